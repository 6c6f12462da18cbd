"""fastcheck.planning.layout.Layout: the map between a dict of tensors and the flat theta."""

import collections
import types

import numpy as np
import pytest

from fastcheck import Layout
from fastcheck.errors import GradientError, InputTypeError, ParameterError


def three_tensors():
    """W1 (2, 3), b1 (2, 1), s () with distinct, easy-to-read values."""
    return {
        "W1": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        "b1": np.array([[7.0], [8.0]]),
        "s": np.array(9.0),
    }


# -- from_params / flatten / unflatten ------------------------------------------------

def test_flatten_stacks_tensors_in_mapping_order_each_in_c_order():
    """theta is the tensors in mapping order, each raveled row by row."""
    params = {"b": np.array([[10.0, 20.0]]), "a": np.array([[1.0, 2.0], [3.0, 4.0]])}
    layout = Layout.from_params(params)
    assert layout.names == ("b", "a")
    assert layout.shapes == ((1, 2), (2, 2))
    assert layout.offsets == (0, 2, 6)
    assert layout.size == 6
    np.testing.assert_array_equal(layout.flatten(params), [10.0, 20.0, 1.0, 2.0, 3.0, 4.0])


def test_flatten_uses_c_order_for_fortran_and_transposed_arrays():
    """Memory order does not matter: Fortran arrays and transposed views flatten row by row."""
    fortran = np.asfortranarray(np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]))
    assert not fortran.flags.c_contiguous
    assert Layout.from_params({"W": fortran}).flatten({"W": fortran}).tolist() == \
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    transposed = np.arange(6.0).reshape(3, 2).T          # [[0, 2, 4], [1, 3, 5]]
    assert not transposed.flags.c_contiguous
    layout = Layout.from_params({"W": transposed})
    assert layout.flatten({"W": transposed}).tolist() == [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]


def test_round_trip_keeps_names_shapes_and_values():
    """unflatten(flatten(params)) gives back every tensor, same name order, shape and values."""
    params = three_tensors()
    layout = Layout.from_params(params)
    theta = layout.flatten(params)
    assert theta.dtype == np.float64 and theta.shape == (9,)
    np.testing.assert_array_equal(theta, np.arange(1.0, 10.0))
    back = layout.unflatten(theta)
    assert list(back) == ["W1", "b1", "s"]
    for name, value in params.items():
        assert back[name].shape == value.shape
        np.testing.assert_array_equal(back[name], value)


def test_unflatten_returns_views_of_theta():
    """unflatten hands out views: writing theta shows through (the engines rely on it)."""
    layout = Layout.from_params(three_tensors())
    theta = np.zeros(layout.size)
    views = layout.unflatten(theta)
    theta[3] = 42.0                      # W1[1, 0]
    theta[8] = -1.0                      # s
    assert views["W1"][1, 0] == 42.0
    assert views["s"][()] == -1.0


def test_zero_d_arrays_python_floats_and_ints_are_scalar_tensors():
    """0-d arrays, Python floats and Python ints are tensors of shape ()."""
    params = {"f": 3.5, "n": 7, "z": np.array(-2.0), "v": [1, 2]}
    layout = Layout.from_params(params)
    assert layout.shapes == ((), (), (), (2,))
    assert layout.offsets == (0, 1, 2, 3, 5)
    assert layout.flatten(params).tolist() == [3.5, 7.0, -2.0, 1.0, 2.0]
    back = layout.unflatten(layout.flatten(params))
    assert back["f"].shape == () and float(back["f"]) == 3.5
    assert back["n"].shape == () and float(back["n"]) == 7.0


def test_flatten_is_float64_whatever_the_input_dtype():
    """float32 and integer tensors are flattened to float64, exactly."""
    params = {"a": np.array([0.1, 0.2], dtype=np.float32), "k": np.array([[3, -4]], dtype=np.int32)}
    layout = Layout.from_params(params)
    theta = layout.flatten(params)
    assert theta.dtype == np.float64
    assert theta.tolist() == [float(np.float32(0.1)), float(np.float32(0.2)), 3.0, -4.0]


@pytest.mark.parametrize("make", [
    lambda d: types.MappingProxyType(d),
    lambda d: collections.OrderedDict(d),
], ids=["MappingProxyType", "OrderedDict"])
def test_other_mapping_types_are_accepted_in_their_order(make):
    """Any Mapping works, and its iteration order is the layout order."""
    base = {"z": np.array([1.0, 2.0]), "a": np.array([[3.0]])}
    params = make(base)
    layout = Layout.from_params(params)
    assert layout.names == ("z", "a")
    assert layout.flatten(params).tolist() == [1.0, 2.0, 3.0]
    grads = make({"dz": np.array([0.5, 0.25]), "da": np.array([[0.125]])})
    assert layout.gather_grads(grads).tolist() == [0.5, 0.25, 0.125]


def test_ordered_dict_reordered_changes_the_layout():
    """Moving a key to the end of an OrderedDict moves its block in theta."""
    params = collections.OrderedDict(a=np.array([1.0]), b=np.array([2.0, 3.0]))
    params.move_to_end("a")
    layout = Layout.from_params(params)
    assert layout.names == ("b", "a")
    assert layout.flatten(params).tolist() == [2.0, 3.0, 1.0]


def test_flatten_returns_a_copy_never_a_view():
    """Writing into the flat vector never changes the user's arrays."""
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    single = np.array([5.0])                              # one tensor: ravel could be a view
    for params in ({"W": W}, {"single": single}, {"W": W, "single": single}):
        before = {k: v.copy() for k, v in params.items()}
        layout = Layout.from_params(params)
        theta = layout.flatten(params)
        assert not any(np.shares_memory(theta, v) for v in params.values())
        theta[:] = -99.0
        for name in params:
            np.testing.assert_array_equal(params[name], before[name])


# -- gather_grads -----------------------------------------------------------------------

def test_gather_grads_accepts_d_prefixed_names():
    """The seed's dW1/db1 names map to W1/b1, in layout order."""
    layout = Layout.from_params(three_tensors())
    grads = {"ds": np.array(0.5), "db1": np.array([[-1.0], [-2.0]]),
             "dW1": np.arange(6.0).reshape(2, 3)}
    assert layout.gather_grads(grads).tolist() == [0, 1, 2, 3, 4, 5, -1, -2, 0.5]


def test_gather_grads_accepts_plain_names():
    """Gradients keyed by the parameters' own names work too."""
    layout = Layout.from_params(three_tensors())
    grads = {"W1": np.full((2, 3), 2.0), "b1": np.full((2, 1), 3.0), "s": 4.0}
    assert layout.gather_grads(grads).tolist() == [2.0] * 6 + [3.0] * 2 + [4.0]


def test_gather_grads_ignores_extra_keys():
    """dZ3, dA2 and friends in the backward pass's dict are ignored."""
    layout = Layout.from_params({"W1": np.zeros((1, 2))})
    grads = {"dZ3": np.ones((7, 7)), "dA2": "not even an array", "dW1": np.array([[1.0, 2.0]])}
    assert layout.gather_grads(grads).tolist() == [1.0, 2.0]


def test_plain_named_grads_are_not_taken_from_a_parameter_called_d_plus_name():
    """Params "a" and "da" with grads keyed by the plain names: each gets its own gradient.

    Looking up "d" + name per tensor took the gradient of parameter "da" for "a"
    (fixed in 74d88dc). Refusing the ambiguous dict (GradientError) would also do.
    """
    layout = Layout.from_params({"a": np.zeros(2), "da": np.zeros(2)})
    grads = {"a": np.array([1.0, 2.0]), "da": np.array([3.0, 4.0])}
    try:
        flat = layout.gather_grads(grads)
    except GradientError:
        return
    assert flat.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_missing_gradient_is_a_gradient_error_naming_the_tensor():
    """A parameter without dX or X in grads raises GradientError naming it."""
    layout = Layout.from_params(three_tensors())
    with pytest.raises(GradientError, match="b1"):
        layout.gather_grads({"dW1": np.zeros((2, 3)), "ds": 0.0})


def test_gradient_differing_by_axes_of_length_1_is_taken_with_one_note():
    """(5,), (1, 5) and (5, 1, 1) hold the entries of a (5, 1) bias: taken, in order, with
    one note naming them; (6,) or (5, 2) are not, and nothing is broadcast."""
    layout = Layout.from_params({"b1": np.zeros((5, 1)), "b2": np.zeros(3)})
    for b1 in (np.arange(5.0), np.arange(5.0)[None, :], np.arange(5.0)[:, None, None]):
        notes = []
        flat = layout.gather_grads({"db1": b1, "db2": np.ones((1, 3))}, notes)
        np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 1, 1, 1])
        assert len(notes) == 1 and "db2 (1, 3) for b2 (3,)" in notes[0]
    with pytest.raises(GradientError, match=r"b1.*\(6,\).*\(5, 1\)"):
        layout.gather_grads({"db1": np.zeros(6), "db2": np.zeros(3)})
    with pytest.raises(GradientError):
        layout.gather_grads({"db1": np.zeros((5, 2)), "db2": np.zeros(3)})


def test_non_finite_gradient_is_a_gradient_error():
    """A NaN in a gradient is reported against that gradient and index."""
    layout = Layout.from_params({"W": np.zeros((2, 2))})
    dW = np.zeros((2, 2))
    dW[1, 0] = np.inf
    with pytest.raises(GradientError, match=r"dW\[1, 0\]"):
        layout.gather_grads({"dW": dW})


# -- input errors -----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    np.array(["a", "b"]),
    np.array([1.0, None], dtype=object),
    np.array([True, False]),
    "1.0",
], ids=["str-array", "object-array", "bool-array", "string"])
def test_non_numeric_parameters_are_input_type_errors(bad):
    """Strings, objects and booleans are not parameters: InputTypeError."""
    with pytest.raises(InputTypeError, match="w"):
        Layout.from_params({"w": bad})


@pytest.mark.parametrize("bad", [np.array(["a", "b"]), np.array([1.0, None], dtype=object)],
                         ids=["str-array", "object-array"])
def test_non_numeric_gradients_are_input_type_errors(bad):
    """A string or object gradient is an InputTypeError, not a crash or a silent cast."""
    layout = Layout.from_params({"w": np.zeros(2)})
    with pytest.raises(InputTypeError, match="dw"):
        layout.gather_grads({"dw": bad})


def test_nan_parameter_is_a_parameter_error_naming_tensor_and_index():
    """NaN in W1[1, 2] is reported as exactly that entry."""
    W1 = np.ones((2, 3))
    W1[1, 2] = np.nan
    with pytest.raises(ParameterError, match=r"W1\[1, 2\]"):
        Layout.from_params({"b1": np.zeros((2, 1)), "W1": W1})


def test_empty_params_is_a_parameter_error():
    """An empty dict has nothing to check."""
    with pytest.raises(ParameterError):
        Layout.from_params({})


def test_empty_tensor_is_a_parameter_error():
    """A tensor with no entries is refused, naming it."""
    with pytest.raises(ParameterError, match="ghost"):
        Layout.from_params({"W": np.ones(2), "ghost": np.zeros((3, 0))})


def test_params_must_be_a_mapping_with_string_names():
    """A list of arrays or non-string names are InputTypeErrors."""
    with pytest.raises(InputTypeError):
        Layout.from_params([np.ones(2)])
    with pytest.raises(InputTypeError):
        Layout.from_params({1: np.ones(2)})


# -- locate / describe ------------------------------------------------------------------

def test_locate_and_describe_every_flat_index():
    """Each flat index maps to (tensor, index) as np.unravel_index of its local offset says."""
    params = {"W1": np.zeros((3, 4)), "s": 1.0, "b1": np.zeros((3, 1)), "T": np.zeros((2, 2, 3))}
    layout = Layout.from_params(params)
    # The reference walks the tensors itself: sizes from the shapes, offsets by hand.
    expected = []
    for name, value in params.items():
        shape = np.shape(value)
        for local in range(int(np.prod(shape, dtype=int))):
            expected.append((name, tuple(int(j) for j in np.unravel_index(local, shape))))
    assert len(expected) == layout.size == 12 + 1 + 3 + 12
    for i, (name, index) in enumerate(expected):
        assert layout.locate(i) == (name, index)
        assert layout.locate(np.int64(i)) == (name, index)
        text = name if index == () else f"{name}[{', '.join(map(str, index))}]"
        assert layout.describe(i) == text
    assert layout.describe(12) == "s"
    assert layout.describe(13 + 2) == "b1[2, 0]"
    assert layout.describe(16 + 11) == "T[1, 1, 2]"

"""Layout: the map between a dict of parameter tensors and one flat vector.

The seed's ``dictionary_to_vector`` stacks the tensors in mapping order, each
flattened in C order; ``vector_to_dictionary`` reverses it. ``Layout`` records
that map once (names, shapes, offsets) so the engines work on a flat
``theta`` of shape (P,) and the result is handed back per tensor.
"""

import functools
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import GradientError, InputTypeError, ParameterError
from ..runtime.memory import ensure_fits

# dtype kinds we accept as numbers: signed/unsigned integers and floats.
# Booleans, strings, objects and complex numbers are refused (the complex step makes
# theta complex itself).
_REAL_KINDS = "iuf"


def refuse_masked(value, what, error):
    """Raise ``error`` naming ``what`` if ``value`` is a masked array (``numpy.ma``).

    Converted, it would lose its mask, and the values hidden under it (a masked
    gradient's fill value is often 1e20) would be checked as if they were real
    (tests/test_bad_input.py, the "masked" rows).
    """
    # Only when numpy.ma is loaded can a masked array exist: asking np.ma would import
    # it, 30-70 ms of the first check in a process.
    masked = sys.modules.get("numpy.ma")
    if masked is not None and isinstance(value, masked.MaskedArray):
        raise error(f"{what} is a masked array (numpy.ma): fastcheck would drop its mask "
                    "and check the values hidden under it as if they were real. Pass a plain "
                    "array: np.ma.filled(value, fill) with the value the masked entries "
                    "should take, or leave the masked entries out")


def as_numeric_array(value, what, *, error=ParameterError):
    """Return ``value`` as an ndarray of numbers, or raise naming ``what``.

    The array is not copied here; callers copy before they write. Masked
    arrays are refused (``refuse_masked``).
    """
    refuse_masked(value, what, error)
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputTypeError(f"{what} is not an array of numbers ({exc}); "
                             "pass a NumPy array or a Python number") from None
    if array.dtype.kind == "c":
        raise error(f"{what} is complex ({array.dtype}); fastcheck checks real parameters, "
                    "except with method='complex', which makes them complex itself")
    if array.dtype.kind not in _REAL_KINDS:
        raise InputTypeError(f"{what} has dtype {array.dtype}, not numbers; "
                             "pass a float (or integer) NumPy array")
    return array


def first_nonfinite(array):
    """Index (tuple) of the first non-finite entry of ``array``, or None."""
    bad = ~np.isfinite(array)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), array.shape))


def _squeezed(shape):
    """``shape`` without its axes of length 1."""
    return tuple(n for n in shape if n != 1)


def format_index(index):
    """``(2, 3)`` -> ``"[2, 3]"``; ``()`` -> ``""`` (a 0-d tensor)."""
    return "[" + ", ".join(str(i) for i in index) + "]" if index else ""


#: The dtype of each type of real scalar taken as a tensor of shape () as it is.
_SCALARS = {float: np.dtype(np.float64)} | {
    t: np.dtype(t) for t in (np.float16, np.float32, np.float64, np.longdouble, np.int8,
                             np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                             np.uint64, np.longlong, np.ulonglong)}


def _tensor(value, what, error=ParameterError):
    """``(shape, dtype, value)`` of one tensor, refused as ``as_numeric_array`` refuses.

    ``value`` comes back as an ndarray, or unchanged when it is a Python float or
    a real NumPy scalar: wrapping each of a million scalar tensors in an array took
    most of a check's bookkeeping (tests/test_faults.py, many small tensors).
    """
    dtype = _SCALARS.get(type(value))
    if dtype is not None:
        return (), dtype, value
    array = as_numeric_array(value, what, error=error)
    return array.shape, array.dtype, array


def _entry(value):
    """The single entry of a one-entry tensor, as a scalar."""
    return value if type(value) in _SCALARS else np.asarray(value).reshape(-1)[0]


def _first_nonfinite_entry(values):
    """Position in ``values`` (scalars) of the first that is not finite, or None."""
    if not values:
        return None
    bad = ~np.isfinite(np.array(values))
    return int(np.argmax(bad)) if bad.any() else None


@dataclass(frozen=True)
class Layout:
    """Names, shapes and offsets of the tensors stacked into ``theta``.

    ``offsets[k]:offsets[k + 1]`` is tensor ``names[k]`` in the flat vector;
    ``size`` is P, the total number of parameters.

    The bookkeeping is vectorised over tensors where it can be: tensors of one
    entry are gathered with one NumPy call, not one per tensor, so a layout of
    a million scalar tensors costs seconds (tests/test_faults.py).
    """

    names: tuple
    shapes: tuple
    offsets: tuple

    @classmethod
    def from_params(cls, params):
        """Build the layout of ``params`` (a mapping name -> array-like)."""
        if not isinstance(params, Mapping):
            raise InputTypeError(f"params must be a mapping of name -> array, got "
                                 f"{type(params).__name__}; e.g. {{'W1': W1, 'b1': b1}}")
        if len(params) == 0:
            raise ParameterError("params is empty; pass at least one parameter tensor")
        names, shapes, sizes = [], [], []
        scalars, where = [], []  # one-entry float tensors, checked for finiteness at once
        for name, value in params.items():
            if not isinstance(name, str):
                raise InputTypeError(f"parameter names must be strings, got {name!r}")
            shape, dtype, value = _tensor(value, f"parameter {name!r}")
            size = value.size if shape else 1
            if size == 0:
                raise ParameterError(f"parameter {name!r} is empty (shape {shape}); "
                                     "drop it from params")
            if dtype.kind in "fc":
                if size == 1:
                    scalars.append(_entry(value))
                    where.append(len(names))
                else:
                    bad = first_nonfinite(value)
                    if bad is not None:
                        raise ParameterError(f"parameter {name!r} is not finite at "
                                             f"{name}{format_index(bad)} = {value[bad]}; "
                                             "check its initialisation")
            names.append(name)
            shapes.append(shape)
            sizes.append(size)
        bad = _first_nonfinite_entry(scalars)
        if bad is not None:
            k = where[bad]
            raise ParameterError(f"parameter {names[k]!r} is not finite at {names[k]}"
                                 f"{format_index((0,) * len(shapes[k]))} = {scalars[bad]}; "
                                 "check its initialisation")
        offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        return cls(tuple(names), tuple(shapes), tuple(offsets.tolist()))

    @functools.cached_property
    def starts(self):
        """``offsets`` as a (T + 1,) int64 array, for vectorised lookups."""
        return np.array(self.offsets, dtype=np.int64)

    @functools.cached_property
    def _single(self):
        """Positions (k,) of the tensors of one entry, and of the others."""
        one = np.diff(self.starts) == 1
        return np.flatnonzero(one), np.flatnonzero(~one)

    @property
    def size(self):
        """P, the number of scalar parameters."""
        return self.offsets[-1]

    def span(self, k):
        """The slice of tensor ``k`` in the flat vector."""
        return slice(self.offsets[k], self.offsets[k + 1])

    def _stack(self, values, flat):
        """Write ``values`` (one array-like per tensor, in layout order) into ``flat`` (P,)."""
        one, many = self._single
        if one.size:
            flat[self.starts[one]] = np.array([_entry(values[k]) for k in one.tolist()])
        for k in many.tolist():
            flat[self.offsets[k]:self.offsets[k + 1]] = np.asarray(values[k]).ravel()
        return flat

    def flatten(self, params, dtype=np.float64):
        """A new (P,) array of ``params`` in layout order (never a view)."""
        ensure_fits(self.size * np.dtype(dtype).itemsize,
                    f"flattening the {self.size} parameters")
        return self._stack([params[name] for name in self.names],
                           np.empty(self.size, dtype=dtype))

    def unflatten(self, theta):
        """A dict name -> view of ``theta`` (P,) reshaped to the tensor's shape."""
        o = self.offsets
        return {name: theta[o[k]:o[k + 1]].reshape(shape)
                for k, (name, shape) in enumerate(zip(self.names, self.shapes))}

    def gather_grads(self, grads, notes=None):
        """The gradients as one (P,) float64 vector in layout order.

        A gradient whose shape differs from its parameter's only by axes of
        length 1 (a bias (M,) with its gradient kept as (1, M)) is taken as it
        is, with one line added to ``notes`` (a list) naming those tensors.

        ``grads`` names every tensor ``W1`` either ``dW1`` (the seed's
        convention) or ``W1``, one convention for the whole dict, decided once
        so that parameters named ``a`` and ``da`` cannot take each other's
        gradient; other keys (``dZ3``, ``dA2``, ...) are ignored.
        """
        if not isinstance(grads, Mapping):
            raise InputTypeError(f"grads must be a mapping of name -> array, got "
                                 f"{type(grads).__name__}; e.g. {{'dW1': dW1, 'db1': db1}}")
        dkeys = ["d" + name for name in self.names]
        prefixed = all(map(grads.__contains__, dkeys))
        plain = all(map(grads.__contains__, self.names))
        if prefixed and plain:
            raise GradientError("grads has both 'dX' and 'X' keys for every parameter X, so "
                                "which is the gradient is ambiguous; pass one of the two")
        if not (prefixed or plain):
            missing = next((n for n in self.names if "d" + n not in grads and n not in grads),
                           None)
            raise GradientError(f"no gradient for parameter {missing!r}: grads needs a key "
                                f"'d{missing}' or '{missing}' (it has {sorted(map(str, grads))})"
                                if missing else
                                "grads mixes 'dX' and 'X' keys; name every gradient the same "
                                "way")
        keys = dkeys if prefixed else self.names
        values, shapes, reshaped = [], [], []
        for key, name, shape in zip(keys, self.names, self.shapes):
            got, _, value = _tensor(grads[key], f"gradient {key!r}", error=GradientError)
            if got != shape:
                if _squeezed(got) != _squeezed(shape):
                    raise GradientError(f"gradient {key!r} has shape {got} but "
                                        f"parameter {name!r} has shape {shape}; they must "
                                        "hold the same entries (reshape the gradient, not "
                                        "the parameter)")
                reshaped.append(f"{key} {got} for {name} {shape}")
            values.append(value)
            shapes.append(got)
        ensure_fits(8 * self.size, f"flattening the gradients of {self.size} parameters")
        flat = self._stack(values, np.empty(self.size, dtype=np.float64))
        bad = ~np.isfinite(flat)
        if bad.any():
            i = int(np.argmax(bad))
            k = int(self.tensor_of(i))
            index = np.unravel_index(i - self.offsets[k], shapes[k])
            raise GradientError(f"gradient {keys[k]!r} is not finite at {keys[k]}"
                                f"{format_index(tuple(int(j) for j in index))} = {flat[i]}; "
                                "the backward pass produced it")
        if reshaped and notes is not None:
            notes.append("gradients taken with axes of length 1 added or dropped: "
                         + ", ".join(reshaped))
        return flat

    def tensor_of(self, idx):
        """Flat indices ``idx`` (n,) -> the number of the tensor each lies in (n,)."""
        return np.searchsorted(self.starts, idx, side="right") - 1

    def locate(self, i):
        """Flat index ``i`` -> (tensor name, index tuple within that tensor)."""
        k = int(self.tensor_of(i))
        local = int(i) - self.offsets[k]
        return self.names[k], tuple(int(j) for j in np.unravel_index(local, self.shapes[k]))

    def describe(self, i):
        """Flat index ``i`` as ``"W1[2, 3]"``."""
        name, index = self.locate(i)
        return name + format_index(index)

"""``check_vjp``: check one layer's backward pass, a vector-Jacobian product.

A layer ``out = f(inputs, *args)`` maps arrays to an array; its backward takes
an upstream gradient ``dout`` (the cotangent) and returns ``dx``, ``dw``,
``db``, ...: the gradient of the scalar

    J(inputs) = sum(f(inputs, *args) * dout)

with respect to each input. ``check_vjp`` checks exactly that with
``fastcheck.check``, so every engine, method and option of a check applies,
at two evaluations of the layer per coordinate (central differences), never a
Jacobian.

``J`` is generated as plain source that names the layer's outputs, cotangents
and arguments one by one (``projection``), so that ``fastcheck.compiler``
compiles it together with the user's layer: a call ``f(inputs, *args)``
through a star-tuple would lose Numba's typing of the inputs dict.

Outputs and cotangents. ``f`` returns an array, or a tuple whose first
element is the array (the ``(out, cache)`` convention). A layer with several
outputs (an LSTM step's ``next_h, next_c``) returns a tuple whose first k
elements are the outputs, anything after them ignored; k is ``outputs=k``, or
the length of ``dout`` when ``dout`` is a *tuple* (a list is one array-like
cotangent). A scalar output (a loss) takes ``dout=1.0`` or None.
"""

import dataclasses
import linecache
import numbers
from collections.abc import Mapping

import numpy as np

from .check import check
from .complexparams import is_complex
from .errors import CostError, InputTypeError, OptionError
from .planning.layout import as_numeric_array, first_nonfinite, format_index
from .planning.sampling import validate_seed

#: Names the generated projection uses itself; user argument names that clash
#: with them are replaced by ``arg0``, ``arg1``, ...
_RESERVED = {"inputs", "value", "layer", "np"}
#: The most cotangents one call draws (each draw is a whole check).
MAX_DRAWS = 100


@dataclasses.dataclass(frozen=True)
class Output:
    """One output of a layer: its ``shape`` (``()`` for a scalar) and the dtype
    its cotangent is drawn or converted in (the output's own float precision,
    so that a float32 layer's J is known to float32 rounding, not better)."""

    shape: tuple
    dtype: np.dtype

    @property
    def scalar(self):
        return self.shape == ()


def check_vjp(f, inputs, grads, *args, dout=None, n=1, seed=0, outputs=None, **options):
    """Check a layer's backward pass: ``grads`` against numerical derivatives of
    ``J = sum(f(inputs, *args) * dout)``.

    Parameters
    ----------
    f : callable
        The layer's forward pass ``f(inputs, *args)``, returning an array (the
        output), a tuple ``(out, cache)``, or, for ``outputs=k``, a tuple whose
        first k elements are the outputs. A scalar (a loss) counts as an output
        of shape ().
    inputs : mapping of str -> array_like
        Everything to differentiate with respect to, data included
        (``{"x": x, "w": w, "b": b}``).
    grads : mapping, sequence or callable
        The backward's result for ``dout``: a mapping keyed ``dx`` or ``x`` as
        for ``fastcheck.check``, or a tuple/list in the order of ``inputs``
        (``affine_backward(dout, cache)``'s ``dx, dw, db``). Or the backward
        itself, ``backward(*douts) -> mapping or sequence``, called with each
        cotangent (a copy: it may write into it); then fastcheck can draw them.
    *args
        Passed to ``f`` after ``inputs`` (stride, pad, labels, ...).
    dout : array_like or tuple of array_like, optional
        The upstream gradient, of the output's shape; a tuple of them for
        several outputs. None: fastcheck draws ``n`` cotangents (``grads`` must
        be the backward callable), except for a scalar output, whose cotangent
        is 1.
    n : int
        How many cotangents to draw, each a separate check; the worst result
        is returned, with a note saying which draw it was.
    seed : int
        Seeds the cotangents (``cotangent(shapes, seed, draw)``) and the sample.
    outputs : int, optional
        How many outputs ``f`` has (the first ``outputs`` elements of its
        tuple); default: the length of a tuple ``dout``, else 1.
    **options
        Any keyword of ``fastcheck.check``: eps, threshold, method, sample,
        engine, jit, threads, progress, only, exclude.

    Returns
    -------
    CheckResult
        Per input tensor, as ``fastcheck.check`` reports parameters.

    Notes
    -----
    Draw ``dout`` rather than pass ``np.ones``: a uniform cotangent projects
    away everything a layer does that sums to zero over the batch
    (batchnorm's normalised output), and with it mistakes in those terms.
    """
    if not callable(f):
        raise InputTypeError(f"f must be the layer's forward function, got {type(f).__name__}")
    if not isinstance(inputs, Mapping):
        raise InputTypeError(f"inputs must be a mapping of name -> array, got "
                             f"{type(inputs).__name__}; e.g. {{'x': x, 'w': w, 'b': b}}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_DRAWS:
        raise OptionError(f"n must be an integer from 1 to {MAX_DRAWS} (how many cotangents "
                          f"to draw, each a whole check), got {n!r}")
    validate_seed(seed)
    validate_inputs(inputs)
    k = count_outputs(outputs, dout)
    try:
        value = f(inputs, *args)
    except Exception as exc:
        raise CostError(f"f raised {type(exc).__name__} at the given inputs: {exc}") from exc
    why = (f"dout is a tuple of {k} cotangents" if isinstance(dout, tuple)
           else f"outputs={k}" if k > 1 else None)
    tupled, outs = describe_outputs(value, k, why)
    backward = callable(grads) and not isinstance(grads, Mapping)
    drawn = dout is None and not all(out.scalar for out in outs)
    if dout is not None:
        if n != 1:
            raise OptionError(f"n={n} draws cotangents, but dout is given; pass dout=None to "
                              "let fastcheck draw them, or n=1")
        draws = [given_cotangents(dout, outs)]
    elif not drawn:  # a loss: its cotangent only scales J
        draws = [tuple(out.dtype.type(1.0) for out in outs)]
    elif not backward:
        raise OptionError("grads holds the backward's result for one particular dout, which "
                          "fastcheck does not know: pass that dout=..., or pass the backward "
                          "itself (grads=lambda dout: layer_backward(dout, cache)) and "
                          "fastcheck draws its own")
    else:
        draws = [cotangent([out.shape for out in outs], seed, j, [out.dtype for out in outs])
                 for j in range(n)]
    cost = projection(f, len(args), outs, tupled)
    results = []
    for douts in draws:
        given = (grads(*(d.copy() if isinstance(d, np.ndarray) else d for d in douts))
                 if backward else grads)
        results.append(check(cost, inputs, as_grads(given, inputs), *douts, *args,
                             seed=seed, **options))
    worst = max(range(len(results)), key=lambda j: (
        not results[j].passed, np.nan_to_num(results[j].difference, nan=np.inf)))
    res = results[worst]
    note = drawn_note(worst, results, seed) if drawn else uniform_note(draws[0])
    return dataclasses.replace(res, notes=res.notes + [note]) if note else res


def validate_inputs(inputs):
    """Refuse, naming it, an input that is not an array of real numbers (a ragged
    list, strings, complex), before ``f`` sees it and fails on it."""
    for name, value in inputs.items():
        if not isinstance(name, str):
            raise InputTypeError(f"inputs must be keyed by strings (names such as 'x'), got "
                                 f"the key {name!r}")
        if not is_complex(value):  # complex inputs: fastcheck.complexparams
            as_numeric_array(value, f"inputs[{name!r}]")


def count_outputs(outputs, dout):
    """k, the number of outputs: ``outputs``, or the length of a tuple ``dout``, or 1."""
    if outputs is not None and (isinstance(outputs, bool) or
                                not isinstance(outputs, numbers.Integral) or outputs < 1):
        raise OptionError(f"outputs must be a positive integer, got {outputs!r}")
    if isinstance(dout, tuple):
        if outputs is not None and outputs != len(dout):
            raise OptionError(f"outputs={outputs} but dout is a tuple of {len(dout)} "
                              "cotangents; give one per output")
        if not dout:
            raise OptionError("dout is an empty tuple; give one cotangent per output")
        return len(dout)
    if outputs not in (None, 1) and dout is not None:
        raise OptionError(f"outputs={outputs} takes a tuple of {outputs} cotangents as dout, "
                          f"got one {type(dout).__name__}")
    return 1 if outputs is None else int(outputs)


def describe_outputs(value, k, why=None):
    """``(tupled, [Output] * k)`` for what ``f`` returned at the given inputs; ``why``
    says where k came from (``"dout is a tuple of 2 cotangents"``)."""
    tupled = isinstance(value, tuple)
    if k > 1 and (not tupled or len(value) < k):
        fix = ("; for a layer of one output pass dout as one array, not a tuple"
               if why and why.startswith("dout") else "")
        raise OptionError(f"{why or f'outputs={k}'}, so f must return a tuple of at least "
                          f"{k} arrays, one per output; it returned {_what(value)}{fix}")
    if tupled and not value:
        raise CostError("f returned an empty tuple; return the output, or (out, cache)")
    items = value[:k] if tupled else (value,)
    outs = []
    for i, item in enumerate(items):
        which = f"output {i}" if k > 1 else "the output"
        if isinstance(item, (bool, np.bool_)) or not isinstance(
                item, (numbers.Real, np.number, np.ndarray)):
            raise CostError(f"{which} of f is {_what(item)}; f must return arrays of floats "
                            "(or a tuple whose first elements are)")
        array = np.asarray(item)
        if array.dtype.kind not in "iufc":
            raise CostError(f"{which} of f has dtype {array.dtype}; check_vjp checks layers "
                            "of real or complex numbers")
        dtype = array.dtype if array.dtype.kind in "fc" else np.dtype(np.float64)
        outs.append(Output(array.shape, dtype))
    return tupled, outs


def _what(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    return f"a {type(value).__name__}"


def given_cotangents(dout, outs):
    """The caller's ``dout`` as a tuple of cotangents, one per output, each of its
    output's shape and float dtype; ``OptionError`` naming the one that is not."""
    items = dout if isinstance(dout, tuple) else (dout,)
    douts = []
    for i, (item, out) in enumerate(zip(items, outs)):
        what = f"dout[{i}]" if isinstance(dout, tuple) else "dout"
        array = (np.asarray(item) if out.dtype.kind == "c" else
                 as_numeric_array(item, what, error=OptionError))
        if array.shape != out.shape and not (out.scalar and array.size == 1):
            raise OptionError(f"{what} has shape {array.shape} but the output it multiplies "
                              f"has shape {out.shape}; the cotangent has its output's shape")
        bad = first_nonfinite(array)
        if bad is not None:
            raise OptionError(f"{what} is not finite at {what}{format_index(bad)}")
        douts.append(out.dtype.type(array.item()) if out.scalar else array.astype(out.dtype))
    return tuple(douts)


def cotangent(shapes, seed=0, draw=0, dtypes=None):
    """Draw ``draw`` of the cotangents for outputs of ``shapes``: a tuple of
    standard normal arrays (floats for shape ()), seeded by ``(seed, draw)``.

    Gaussian, not uniform: every entry differs, so no term of the backward
    pass that sums to zero over a batch is projected away (see ``check_vjp``).
    ``dtypes`` (one per shape, default float64) sets each one's precision.
    """
    rng = np.random.default_rng([seed, draw])
    dtypes = dtypes or [np.dtype(np.float64)] * len(shapes)
    douts = []
    for shape, dtype in zip(shapes, dtypes):
        value = rng.standard_normal(shape).astype(dtype)
        if np.dtype(dtype).kind == "c":  # a complex output's cotangent, both parts drawn
            value = value + 1j * rng.standard_normal(shape).astype(value.real.dtype)
        douts.append(dtype.type(value) if shape == () else value)
    return tuple(douts)


def as_grads(grads, inputs):
    """The backward's result as a mapping ``fastcheck.check`` reads: a mapping as it
    is, a sequence in the order of ``inputs`` keyed by their names, one array as the
    gradient of the only input."""
    if isinstance(grads, Mapping):
        return grads
    if isinstance(grads, (tuple, list)):
        if len(grads) != len(inputs):
            raise InputTypeError(f"grads is a {type(grads).__name__} of {len(grads)} "
                                 f"gradients, but there are {len(inputs)} inputs "
                                 f"({', '.join(map(repr, inputs))}); give one per input, in "
                                 "that order, or a mapping {'dx': dx, ...}")
        return dict(zip(inputs, grads))
    if isinstance(grads, np.ndarray):
        if len(inputs) == 1:  # ``lambda dout: dx`` for a layer of one input
            return {next(iter(inputs)): grads}
        raise InputTypeError(f"grads (or what the backward returned) is one array, but "
                             f"there are {len(inputs)} inputs "
                             f"({', '.join(map(repr, inputs))}); give one gradient per "
                             "input: a tuple in that order or a mapping {'dx': dx, ...}")
    raise InputTypeError(f"grads must be a mapping, a tuple of gradients in the order of "
                         f"inputs, or the backward callable; got {type(grads).__name__}")


def projection(f, nargs, outs, tupled):
    """``J(inputs, *douts, *args) = sum(f(inputs, *args) * dout)``, over all outputs,
    as a generated plain Python function that calls ``f`` with its arguments
    one by one (Numba compiles that; a star call loses the inputs' typing).

    The arguments keep the names ``f`` gives them where it can, so that a
    compile error about one names it as the user wrote it.
    """
    names = _argument_names(f, nargs)
    douts = ["dout"] if len(outs) == 1 else [f"dout{i}" for i in range(len(outs))]
    terms = []
    for i, (out, d) in enumerate(zip(outs, douts)):
        value = f"value[{i}]" if tupled else "value"
        if out.dtype.kind == "c":  # Re <dout, out>: dout is then PyTorch's grad_output
            terms.append(f"np.real(np.conj({d}) * {value})" if out.scalar else
                         f"np.real(np.sum(np.conj({d}) * {value}))")
        else:
            terms.append(f"{value} * {d}" if out.scalar else f"np.sum({value} * {d})")
    qualname = getattr(f, "__qualname__", type(f).__name__)
    source = (f"def projected({', '.join(['inputs'] + douts + names)}):\n"
              f"    value = layer({', '.join(['inputs'] + names)})\n"
              f"    return {' + '.join(terms)}\n")
    filename = f"<fastcheck.vjp: sum({qualname}(inputs) * dout)>"
    # Registered so that tracebacks and Numba's messages can show the line.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = {"np": np, "layer": f}
    exec(compile(source, filename, "exec"), scope)
    projected = scope["projected"]
    projected.__qualname__ = f"projected[{qualname}]"
    return projected


def _argument_names(f, nargs):
    """Names for ``f``'s ``nargs`` extra arguments: its own where they are plain
    positional parameters that do not clash, else ``arg0``, ``arg1``, ..."""
    code = getattr(getattr(f, "py_func", f), "__code__", None)
    own = list(code.co_varnames[1:code.co_argcount]) if code is not None else []
    if len(own) >= nargs and not (set(own[:nargs]) & _RESERVED) and \
            not any(name.startswith("dout") for name in own[:nargs]):
        return own[:nargs]
    return [f"arg{j}" for j in range(nargs)]


def uniform_note(douts):
    """A warning for a caller's cotangent whose entries are all equal, or None."""
    for i, d in enumerate(douts):
        if np.ndim(d) and np.size(d) > 1 and np.all(d == np.ravel(d)[0]):
            which = f"dout[{i}]" if len(douts) > 1 else "dout"
            return (f"{which} is uniform (every entry {np.ravel(d)[0]:g}): it projects away "
                    "whatever sums to zero over its entries, which hides mistakes in such "
                    "layers (batchnorm's dx); pass the backward itself as grads and let "
                    "fastcheck draw dout")
    return None


def drawn_note(worst, results, seed):
    """Which drawn cotangent the returned result is, and how the others went."""
    n = len(results)
    failed = sum(not r.passed for r in results)
    tally = (f"; the worst of {n} checks with draws 0 to {n - 1}, {failed} of which failed"
             if n > 1 else "")
    return (f"dout drawn by fastcheck: standard normal, draw {worst}, which "
            f"fastcheck.vjp.cotangent(shapes, seed={seed}, draw={worst}) reproduces{tally}")

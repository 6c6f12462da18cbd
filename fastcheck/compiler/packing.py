"""The user's extra arguments, packed into the two flat buffers of the fixed cost type.

Packing scheme (the trampoline's source is generated from the same specs):

* ``fdata`` (F,) float64, complex128 for the complex step: every float array,
  raveled in C order, and every float scalar, one after another in argument order.
* ``idata`` (I,) int64: first a header, then every integer and boolean array
  (raveled) and scalar. The header holds, per argument in order: for an array,
  its offset in ``fdata`` or ``idata`` followed by its shape (ndim entries); for
  a scalar, its offset; for ``None``, nothing.

Shapes travel in the header instead of being baked into the code, so the same
compiled cost serves another batch size of the same kinds of data; only the
kinds (float, int, bool, ndim) are part of the cache key.

Conversions are the honest ones only: integer arrays of any width become int64
(values preserved, checked for uint64), booleans become 0/1 in ``idata`` and
``!= 0`` again in the trampoline, and float16/float32 data become float64 (the
one conversion that changes what the cost computes: it is reported in
``ArgSpec.note``). Strings, lists, tuples, dicts, complex data and objects are
refused with a ``CompileError`` that names the argument.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import CompileError
from .diagnose import def_location

_INT64 = np.iinfo(np.int64)


@dataclass(frozen=True)
class ArgSpec:
    """How one user argument travels: ``kind`` is one of ``"float"``, ``"int"``,
    ``"bool"`` (scalars), ``"farray"``, ``"iarray"``, ``"barray"`` (arrays of
    ``ndim`` dimensions) or ``"none"``. ``note`` says what conversion changed the
    values the cost sees, or is None."""

    kind: str
    ndim: int = 0
    note: str | None = None

    @property
    def header_size(self):
        if self.kind == "none":
            return 0
        return 1 + self.ndim

    @property
    def in_fdata(self):
        return self.kind in ("float", "farray")


def describe(code, args):
    """The ``ArgSpec`` of each argument in ``args``; raise ``CompileError`` for one
    of a kind the compiled cost cannot take. ``code`` is the cost's code object,
    for the message."""
    return [_spec(code, position, value) for position, value in enumerate(args)]


def _spec(code, position, value):
    def refuse(reason):
        names = code.co_varnames[1:code.co_argcount]
        name = repr(names[position]) + " " if position < len(names) else ""
        raise CompileError(f"{def_location(code)}: argument {name}(extra argument "
                           f"{position + 1}) {reason}")

    if value is None:
        return ArgSpec("none")
    if isinstance(value, (bool, np.bool_)):
        return ArgSpec("bool")
    if isinstance(value, (int, np.integer)):
        if not _INT64.min <= int(value) <= _INT64.max:
            refuse(f"is {value}, outside int64")
        return ArgSpec("int")
    if isinstance(value, (float, np.floating)):
        note = None
        if isinstance(value, np.floating) and value.dtype != np.float64:
            note = f"is {value.dtype}; the compiled cost computes in float64"
        return ArgSpec("float", note=note)
    if isinstance(value, np.ndarray) and not isinstance(value, np.matrix):
        kind = value.dtype.kind
        if kind == "f":
            note = None
            if value.dtype != np.float64:
                note = f"is a {value.dtype} array; the compiled cost computes in float64"
            return ArgSpec("farray", value.ndim, note)
        if kind in "iu":
            if kind == "u" and value.dtype.itemsize == 8 and value.size and value.max() > _INT64.max:
                refuse("holds uint64 values beyond int64")
            return ArgSpec("iarray", value.ndim)
        if kind == "b":
            return ArgSpec("barray", value.ndim)
        refuse(f"is a {value.dtype} array; the compiled cost takes float, integer and "
               "boolean arrays")
    if isinstance(value, (list, tuple)):
        refuse(f"is a {type(value).__name__}; the compiled cost takes NumPy arrays and "
               "numbers: pass np.array(...) or the items as separate arguments")
    if isinstance(value, (complex, np.complexfloating)):
        refuse("is complex; fastcheck checks real costs of real data")
    refuse(f"is a {type(value).__name__}; the compiled cost takes NumPy arrays, numbers, "
           "bools and None")


def pack(specs, args, complex_step=False):
    """``(fdata, idata)`` for ``args`` laid out as ``specs`` say (see the module doc).

    Both are fresh C-contiguous copies: the compiled cost never sees the
    caller's memory.
    """
    header = []
    floats, ints = [], []
    fsize = 0
    isize = sum(spec.header_size for spec in specs)
    for spec, value in zip(specs, args):
        if spec.kind == "none":
            continue
        flat = np.ravel(np.asarray(value))
        if spec.in_fdata:
            header.append(fsize)
            floats.append(flat)
            fsize += flat.size
        else:
            header.append(isize)
            ints.append(flat)
            isize += flat.size
        header.extend(np.shape(value))
    fdtype = np.complex128 if complex_step else np.float64
    fdata = np.zeros(fsize, dtype=fdtype)
    if floats:
        np.concatenate(floats, out=fdata, casting="unsafe")
    idata = np.array(header + [0] * (isize - len(header)), dtype=np.int64)
    if ints:
        np.concatenate(ints, out=idata[len(header):], casting="unsafe")
    return fdata, idata

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
``ArgSpec.note``).

Arguments as users pass them: a list or tuple of numbers, or of arrays of one
shape, travels as the array ``np.asarray`` makes of it (the cost indexes it,
takes its ``len`` and loops over it as before); a dict with string keys of
numbers, arrays or such lists (hyperparameters: ``{"stride": 2, "pad": 1}``)
travels value by value and is rebuilt by the trampoline as a dict literal of
the same keys, which go into the generated source and so into the cache key.
Strings, nested dicts, ragged lists, complex data and objects are refused
with a ``CompileError`` that names the argument.
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
    #: For a ``"dict"``: its keys, and the spec of the value under each.
    keys: tuple = ()
    items: tuple = ()

    @property
    def header_size(self):
        if self.kind == "none":
            return 0
        if self.kind == "dict":
            return sum(item.header_size for item in self.items)
        return 1 + self.ndim

    @property
    def signature(self):
        """What the compiled code depends on: kinds, ndims and dict keys, not values."""
        return (self.kind, self.ndim, self.keys, tuple(item.signature for item in self.items))

    @property
    def in_fdata(self):
        return self.kind in ("float", "farray")


def describe(code, args):
    """The ``ArgSpec`` of each argument in ``args``; raise ``CompileError`` for one
    of a kind the compiled cost cannot take. ``code`` is the cost's code object,
    for the message."""
    return [_spec(code, position, value) for position, value in enumerate(args)]


def _spec(code, position, value, key=None):
    def refuse(reason):
        names = code.co_varnames[1:code.co_argcount]
        name = repr(names[position]) + " " if position < len(names) else ""
        where = f"[{key!r}] " if key is not None else ""
        raise CompileError(f"{def_location(code)}: argument {name}(extra argument "
                           f"{position + 1}) {where}{reason}")

    if isinstance(value, dict) and key is None:
        return _dict_spec(code, position, value, refuse)
    if isinstance(value, (list, tuple)):
        array = _sequence_array(value)
        if array is None:
            refuse(f"is a {type(value).__name__} that is not of numbers or of arrays of one "
                   "shape; the compiled cost takes NumPy arrays, numbers and dicts of them: "
                   "pass np.array(...) or the items as separate arguments")
        spec = _spec(code, position, array, key)
        note = f"is a {type(value).__name__}; the compiled cost sees it as an array"
        if spec.note:
            note += f" ({spec.note})"
        return ArgSpec(spec.kind, spec.ndim, note)
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
    if isinstance(value, dict):
        refuse("is a dict inside a dict; the compiled cost takes one level of dict")
    if isinstance(value, (complex, np.complexfloating)):
        refuse("is complex; fastcheck checks real costs of real data")
    refuse(f"is a {type(value).__name__}; the compiled cost takes NumPy arrays, numbers, "
           "bools and None")


def _dict_spec(code, position, value, refuse):
    keys, items = [], []
    for key, item in value.items():
        if not isinstance(key, str) or not key.isprintable():
            refuse(f"has the key {key!r}; the compiled cost takes dicts keyed by printable "
                   "strings")
        spec = _spec(code, position, item, str(key))
        if spec.kind == "none":
            refuse(f"[{key!r}] is None; drop the entry or give it a value")
        keys.append(str(key))
        items.append(spec)
    if not keys:
        refuse("is an empty dict; pass None or drop the argument")
    notes = [f"[{k!r}] {spec.note}" for k, spec in zip(keys, items) if spec.note]
    return ArgSpec("dict", note="; ".join(notes) or None, keys=tuple(keys), items=tuple(items))


def _sequence_array(value):
    """The array of a list/tuple of numbers or of same-shape arrays, else None."""
    if not value or not all(isinstance(v, (bool, int, float, np.generic, np.ndarray))
                            for v in value):
        return None
    if len({np.shape(v) for v in value}) != 1:
        return None
    with np.errstate(all="ignore"):
        array = np.asarray(value)
    return array if array.dtype.kind in "biuf" else None


def leaves(specs, args):
    """``(spec, value)`` of every packed value in order: dicts opened, sequences as arrays."""
    for spec, value in zip(specs, args):
        if spec.kind == "dict":
            yield from leaves(spec.items, list(value.values()))
        elif spec.kind != "none":
            yield spec, np.asarray(value) if isinstance(value, (list, tuple)) else value


def pack(specs, args, complex_step=False):
    """``(fdata, idata)`` for ``args`` laid out as ``specs`` say (see the module doc).

    Both are fresh C-contiguous copies: the compiled cost never sees the
    caller's memory.
    """
    header = []
    floats, ints = [], []
    fsize = 0
    isize = sum(spec.header_size for spec in specs)
    for spec, value in leaves(specs, args):
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

"""A traced record evaluated for a batch of B perturbations of one parameter tensor,
recomputing only what each perturbation changes (``engines.incremental``).

Every node of the record has its value at theta cached. A node that does not
depend on the perturbed tensor keeps it (its change is ``None``); the others
carry their change in one of three forms, all batched over the B
perturbations (batch axis first):

- ``Entries(pos (B, s), val (B, s))``: perturbation b changed the elements of
  the node's C-order flattened value at ``pos[b]`` to ``val[b]`` (the tensor's
  own entry; a column of ``X @ W``; its image through elementwise operations,
  broadcasts, reshapes, transposes and slices). A position equal to the
  node's size is padding (a slot for nothing), so every b has s slots.
- ``Slices(axis, idx (B, R), val)``: perturbation b changed the slices
  ``idx[b]`` along ``axis`` (the rows of a product whose left factor changed in
  a few entries: each example's downstream work), to ``val`` (the node's shape
  with ``R`` for that axis, batch axis first); ``idx == shape[axis]`` is
  padding. Through a product it becomes a dense rank-R change.
- ``Dense(val)``: the whole perturbed value (B,) + shape, from the point the
  change went dense (after a product that mixes the changed entries into every
  output): the rest of the record runs on it, batched.

Each form is exact where it applies: its values are the perturbed record's
values (a change through a product is added to the cached product, which
rounds differently from recomputing it: the difference is rounding). An
operation a form has no rule for takes its arguments dense, so the only
operations refused are those with no batched dense rule at all
(``SUPPORTED``).
"""

from math import prod
from typing import NamedTuple

import numpy as np

from ..compiler.trace import Lit

#: The record's operation kinds this evaluator knows (every kind ``tracegen`` emits).
SUPPORTED = frozenset({"param", "const", "ufunc", "reduce", "matmul", "bmatmul", "argreduce",
                       "argsort", "wrapindex", "reshape", "transpose", "index", "gather",
                       "scatter", "where", "concat", "astype"})
#: An element-sparse change larger than this fraction of its node goes dense.
DENSE_FRACTION = 0.5


class Entries(NamedTuple):
    pos: np.ndarray
    val: np.ndarray


class Slices(NamedTuple):
    axis: int
    idx: np.ndarray
    val: np.ndarray


class Dense(NamedTuple):
    val: np.ndarray


_ASTYPE = {"f": np.float64, "i": np.int64, "b": np.bool_}


# ---------------------------------------------------------------- dense rules
# Arrays carry a leading batch axis of length B or 1 (a cached value, broadcast).

def _lift(x, ndim):
    """A batched array ``x`` ((B,) + shape) with axes of length 1 inserted after the
    batch axis so that it broadcasts, right-aligned, as a value of ``ndim`` axes."""
    missing = ndim - (x.ndim - 1)
    return x.reshape(x.shape[:1] + (1,) * missing + x.shape[1:]) if missing > 0 else x


def _float(x):
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _matmul_dense(a, b, sa, sb, shape):
    """np.dot of batched operands of unbatched shapes ``sa``, ``sb`` (1-D or 2-D)."""
    B = max(a.shape[0], b.shape[0])
    a = _float(a).reshape(a.shape[:1] + ((1,) + sa if len(sa) == 1 else sa))
    b = _float(b).reshape(b.shape[:1] + (sb + (1,) if len(sb) == 1 else sb))
    if a.shape[0] == 1 and b.shape[0] > 1:
        out = np.matmul(a[0], b)
    elif b.shape[0] == 1:
        out = np.matmul(a, b[0])
    else:
        out = np.matmul(a, b)
    return out.reshape((B,) + shape)


def reduce_axes(fn, x, axes, keepdims):
    """``np.<fn>(x, axis=axes, keepdims=keepdims)``, faster along one short last axis
    (a class axis of logits): NumPy's per-row reduction loop costs more there
    than a product with ones (a sum) or a running maximum over the columns."""
    if len(axes) == 1 and x.ndim > 1 and 1 < x.shape[axes[0]] <= 64 \
            and x.dtype == np.float64 and fn in ("sum", "max", "min"):
        axis = axes[0]
        if fn == "sum" and axis == x.ndim - 1:
            out = x @ np.ones(x.shape[-1])
        else:
            pick = {"sum": np.add, "max": np.maximum, "min": np.minimum}[fn]
            moved = np.moveaxis(x, axis, 0)
            out = moved[0].copy()
            for j in range(1, moved.shape[0]):
                pick(out, moved[j], out=out)
        return np.expand_dims(out, axis) if keepdims else out
    return getattr(np, fn)(x, axis=axes, keepdims=keepdims)


def dense_op(op, args, shapes, B):
    """The value of ``op`` for batched arguments ``args`` (arrays with a batch axis
    of length B or 1, or plain scalars for ``Lit``); ``shapes`` their unbatched
    shapes. Returns (B,) + op.shape (or (1,) + op.shape when every argument has 1)."""
    kind, attrs, nd = op.kind, op.attrs, len(op.shape)
    if kind == "ufunc":
        lifted = [a if np.ndim(a) == 0 else _lift(a, nd) for a in args]
        return getattr(np, attrs[0])(*lifted)
    if kind == "where":
        lifted = [a if np.ndim(a) == 0 else _lift(a, nd) for a in args]
        out = np.where(*lifted)
        return out if out.ndim == nd + 1 else np.broadcast_to(out, (B,) + op.shape)
    if kind == "astype":
        return args[0].astype(_ASTYPE[attrs[0]])
    if kind == "matmul":
        return _matmul_dense(args[0], args[1], shapes[0], shapes[1], op.shape)
    if kind == "bmatmul":
        return np.matmul(_float(args[0]), _float(args[1]))
    if kind == "reduce":
        fn, axes, keepdims = attrs
        return reduce_axes(fn, args[0], tuple(a + 1 for a in axes), keepdims)
    if kind == "argreduce":
        fn, axis, keepdims = attrs
        x = args[0]
        if axis is None:
            out = getattr(np, fn)(x.reshape(x.shape[0], -1), axis=1)
            return out.reshape((x.shape[0],) + op.shape)
        out = getattr(np, fn)(x, axis=axis + 1)
        return np.expand_dims(out, axis + 1) if keepdims else out
    if kind == "argsort":
        return np.argsort(args[0], axis=attrs[0] + 1, kind="mergesort")
    if kind == "wrapindex":
        n, d = attrs[0], args[0]
        if ((d < -n) | (d >= n)).any():
            raise IndexError("an index computed from the parameters is out of range")
        return np.where(d < 0, d + n, d).astype(np.int64)
    if kind == "reshape":
        x = args[0]
        return np.ascontiguousarray(x).reshape(x.shape[:1] + op.shape)
    if kind == "transpose":
        return args[0].transpose((0,) + tuple(a + 1 for a in attrs[0]))
    if kind == "index":
        return args[0][(slice(None),) + tuple(attrs[0])]
    if kind == "gather":
        x, flat = args
        x2 = np.ascontiguousarray(x).reshape(x.shape[0], -1)
        if flat.shape[0] == 1:
            out = x2[:, flat[0].ravel()]
        else:
            x2 = np.broadcast_to(x2, (B, x2.shape[1]))
            out = np.take_along_axis(x2, flat.reshape(B, -1), axis=1)
        return out.reshape(out.shape[:1] + op.shape)
    if kind == "scatter":
        x, flat, values = args
        out = np.array(np.broadcast_to(np.ascontiguousarray(x).reshape(x.shape[0], -1),
                                       (B, prod(shapes[0]))))
        vshape = attrs[0] or (1,)
        v = np.broadcast_to(values if np.ndim(values) == 0 else _lift(values, len(vshape)),
                            (B,) + vshape).reshape(B, -1)
        if flat.shape[0] == 1:
            out[:, flat[0].ravel()] = v
        else:
            for b in range(B):
                out[b, flat[b].ravel()] = v[b]
        return out.reshape((B,) + op.shape)
    if kind == "concat":
        parts = [np.broadcast_to(a, (B,) + s) for a, s in zip(args, shapes)]
        return np.concatenate(parts, axis=attrs[0] + 1)
    raise KeyError(kind)


def evaluate_at(rec, live, theta):
    """Every live node's value at ``theta`` (P,), by the dense rules: {node: array}."""
    values = {}
    for k in live:
        op = rec.ops[k]
        if op.kind == "param":
            offset, shape = op.attrs
            values[k] = theta[offset:offset + prod(shape)].reshape(shape).copy()
            continue
        if op.kind == "const":
            values[k] = rec.consts[op.attrs[0]]
            continue
        args = [a.value if isinstance(a, Lit) else values[a][None] for a in op.args]
        shapes = [() if isinstance(a, Lit) else rec.ops[a].shape for a in op.args]
        with np.errstate(all="ignore"):
            values[k] = np.asarray(dense_op(op, args, shapes, 1)[0])
    return values


# ---------------------------------------------------------- the batched pass

class Batch:
    """One batch of perturbations of one tensor: ``run(param, pos, val)`` gives J
    (B,) with the record's node ``param`` changed at local flat positions
    ``pos`` (B,) to ``val`` (B,).

    ``rec``/``order``: the record and the nodes that depend on ``param``, in
    order; ``values``: every live node's value at theta; ``last_use``: the last
    node reading each node (its change is dropped after it).
    """

    def __init__(self, rec, order, values, output, last_use):
        self.rec, self.order, self.values, self.output = rec, order, values, output
        self.last_use = last_use
        self._ext = {}
        self.elements = 0  # values computed so far (the probe's count of the work)

    # -- cached values extended by one padding slot
    def flat_ext(self, k, shape=None):
        key = ("flat", k, shape)
        out = self._ext.get(key)
        if out is None:
            v = self.values[k]
            if shape is not None:
                v = np.broadcast_to(v, shape)
            out = self._ext[key] = np.append(np.ravel(v), 0).astype(v.dtype)
        return out

    def axis_ext(self, k, axis):
        """Node k's cached value with a slab of zeros appended along ``axis``."""
        key = ("axis", k, axis)
        out = self._ext.get(key)
        if out is None:
            v = self.values[k]
            pad = list(v.shape)
            pad[axis] = 1
            out = self._ext[key] = np.concatenate((v, np.zeros(pad, dtype=v.dtype)), axis=axis)
        return out

    def dense(self, k, change, B):
        """Node k's perturbed value (B,) + shape, or its cached value (1,) + shape."""
        v = self.values[k]
        if change is None:
            return v[None]
        if isinstance(change, Dense):
            return change.val
        if isinstance(change, Entries):
            out = np.empty((B, v.size + 1), dtype=change.val.dtype)
            out[:] = self.flat_ext(k)
            np.put_along_axis(out, change.pos, change.val, axis=1)
            return out[:, :v.size].reshape((B,) + v.shape)
        axis = change.axis
        ext = self.axis_ext(k, axis)
        out = np.empty((B,) + ext.shape, dtype=np.result_type(ext, change.val))
        out[:] = ext
        moved, vals = np.moveaxis(out, axis + 1, 1), np.moveaxis(change.val, axis + 1, 1)
        moved[np.arange(B)[:, None], change.idx] = vals
        return np.take(out, np.arange(v.shape[axis]), axis=axis + 1)

    def run(self, param, pos, val, tail=None):
        """J (B,); with ``tail`` (``engines.tail.Tail``), the nodes before it and
        beside it here, its own nodes by its compiled code."""
        B = pos.shape[0]
        changes = {param: Entries(pos[:, None].astype(np.int64), val[:, None])}
        skip, keep = (set(tail.nodes), tail.boundary) if tail is not None else ((), {})
        with np.errstate(all="ignore"):  # padding slots compute junk, never read
            for k in self.order[1:]:
                if k in skip:
                    continue
                op = self.rec.ops[k]
                got = self.step(k, op, changes, B)
                if got is not None:
                    changes[k] = got
                    self.elements += got.val.size
                for a in op.args:
                    if not isinstance(a, Lit) and self.last_use.get(a) == k and a not in keep:
                        changes.pop(a, None)
            if tail is not None:
                return tail.run(self, changes, B)
        out = changes.get(self.output)
        if out is None:
            return np.full(B, float(self.values[self.output]))
        return self.dense(self.output, out, B).reshape(B).astype(np.float64)

    def step(self, k, op, changes, B):
        kind = op.kind
        got = [None if isinstance(a, Lit) else changes.get(a) for a in op.args]
        if all(g is None for g in got):
            return None
        if kind in ("ufunc", "where", "astype"):
            return self.elementwise(k, op, got, B)
        rule = getattr(self, "_" + kind, None)
        out = rule(k, op, got, B) if rule is not None else NotImplemented
        if out is NotImplemented:
            return self.dense_step(k, op, got, B)
        return out

    def dense_step(self, k, op, got, B):
        args = [a.value if isinstance(a, Lit) else self.dense(a, g, B)
                for a, g in zip(op.args, got)]
        shapes = [() if isinstance(a, Lit) else self.rec.ops[a].shape for a in op.args]
        out = dense_op(op, args, shapes, B)
        if out.shape[0] != B:
            out = np.broadcast_to(out, (B,) + out.shape[1:])
        return Dense(out)

    # -- elementwise operations
    def _fn(self, op):
        if op.kind == "ufunc":
            return getattr(np, op.attrs[0])
        if op.kind == "where":
            return np.where
        target = _ASTYPE[op.attrs[0]]
        return lambda x: x.astype(target)

    def elementwise(self, k, op, got, B):
        changed = [g for g in got if g is not None]
        if all(isinstance(g, Entries) for g in changed):
            out = self._entries_elementwise(k, op, got, B)
        elif all(isinstance(g, Slices) for g in changed):
            out = self._slices_elementwise(k, op, got, B)
        else:
            out = NotImplemented
        return self.dense_step(k, op, got, B) if out is NotImplemented else out

    def _entries_elementwise(self, k, op, got, B):
        S, size = op.shape, prod(op.shape)
        pos, vals = None, []
        for a, g in zip(op.args, got):
            if g is None:
                continue
            shape = self.rec.ops[a].shape
            mapped = g if shape == S else _broadcast_entries(g, shape, S)
            if pos is None:
                pos = mapped.pos
            elif mapped.pos is not pos and not np.array_equal(mapped.pos, pos):
                return NotImplemented
            vals.append(mapped.val)
        if pos.shape[1] > DENSE_FRACTION * size:
            return NotImplemented
        it = iter(vals)
        args = [a.value if isinstance(a, Lit) else
                next(it) if g is not None else
                np.take(self.flat_ext(a, S if self.rec.ops[a].shape != S else None), pos)
                for a, g in zip(op.args, got)]
        return Entries(pos, self._fn(op)(*args))

    def _slices_elementwise(self, k, op, got, B):
        S, nd = op.shape, len(op.shape)
        first = next(g for g in got if g is not None)
        idx, axis = first.idx, None
        for a, g in zip(op.args, got):
            if g is None:
                continue
            shape = self.rec.ops[a].shape
            out_axis = g.axis + nd - len(shape)
            if axis is None:
                axis = out_axis
            if out_axis != axis or (g.idx is not idx and not np.array_equal(g.idx, idx)):
                return NotImplemented
        args = []
        for a, g in zip(op.args, got):
            if isinstance(a, Lit):
                args.append(a.value)
                continue
            shape = self.rec.ops[a].shape
            if g is not None:
                args.append(_lift(g.val, nd))
                continue
            local = axis - (nd - len(shape))
            if local >= 0 and shape[local] == S[axis]:
                taken = np.take(self.axis_ext(a, local), idx, axis=local)
                args.append(_lift(np.moveaxis(taken, local, 0), nd))
            else:
                args.append(self.values[a])  # broadcast along the slices
        out = self._fn(op)(*args)
        R = idx.shape[1]
        want = (B,) + S[:axis] + (R,) + S[axis + 1:]
        if out.shape != want:
            out = np.broadcast_to(out, want)
        return Slices(axis, idx, out)

    # -- products
    def _matmul(self, k, op, got, B):
        a, b = op.args
        sa, sb = self.rec.ops[a].shape, self.rec.ops[b].shape
        ga, gb = got
        if len(sa) != 2 or len(sb) != 2 or (ga is not None and gb is not None):
            return NotImplemented
        if self.values[a].dtype.kind != "f" or self.values[b].dtype.kind != "f":
            return NotImplemented
        if isinstance(ga, Entries):
            return self._entries_product(k, a, b, ga, B, left=True)
        if isinstance(gb, Entries):
            return self._entries_product(k, b, a, gb, B, left=False)
        if isinstance(ga, Slices) and ga.axis == 0:  # rows of A: rows of the product
            return Slices(0, ga.idx, np.matmul(ga.val, self.values[b]))
        if isinstance(gb, Slices) and gb.axis == 1:  # columns of B: its columns
            return Slices(1, gb.idx, np.matmul(self.values[a], gb.val))
        if isinstance(ga, Slices):  # columns of A: a rank-R change of A @ B
            n = sa[1]
            old = np.moveaxis(np.take(self.axis_ext(a, 1), ga.idx, axis=1), 1, 0)
            delta = np.where((ga.idx < n)[:, None, :], ga.val - old, 0.0)  # (B, n_rows, R)
            rows = np.take(self.axis_ext(b, 0), ga.idx, axis=0)  # (B, R, m)
            # Only the rows of the product whose row of delta is not zero change (the
            # examples a ReLU let the change through): those rows, or all of it.
            lines = _changed(np.any(delta != 0.0, axis=2), sa[0])
            if lines is None:
                return Dense(self.values[k][None] + _low_rank(delta, rows))
            if lines.shape[1] == 0:
                return None
            part = np.take_along_axis(delta, np.minimum(lines, sa[0] - 1)[:, :, None], axis=1)
            base = np.take(self.axis_ext(k, 0), lines, axis=0)
            return Slices(0, lines, base + _low_rank(part, rows))
        if isinstance(gb, Slices):  # rows of B
            n = sb[0]
            old = np.take(self.axis_ext(b, 0), gb.idx, axis=0)
            delta = np.where((gb.idx < n)[:, :, None], gb.val - old, 0.0)  # (B, R, m)
            cols = np.moveaxis(np.take(self.axis_ext(a, 1), gb.idx, axis=1), 1, 0)
            lines = _changed(np.any(delta != 0.0, axis=1), sb[1])
            if lines is None:
                return Dense(self.values[k][None] + _low_rank(cols, delta))
            if lines.shape[1] == 0:
                return None
            part = np.take_along_axis(delta, np.minimum(lines, sb[1] - 1)[:, None, :], axis=2)
            base = np.moveaxis(np.take(self.axis_ext(k, 1), lines, axis=1), 1, 0)
            return Slices(1, lines, base + _low_rank(cols, part))
        return NotImplemented

    def _entries_product(self, k, changed, other, g, B, left):
        """``changed`` (a node whose entries g changed) times the unchanged ``other``:
        each changed entry moves one row (left factor) or column (right factor) of
        the product by its change times the other factor's matching row/column."""
        shape = self.rec.ops[changed].shape
        size = prod(shape)
        valid = g.pos < size
        delta = np.where(valid, g.val - np.take(self.flat_ext(changed), g.pos), 0.0)
        valid &= delta != 0.0
        r, c = np.divmod(np.where(valid, g.pos, 0), shape[1])
        # left: entry (r, c) of A moves row r of A @ B by delta * B[c, :];
        # right: entry (r, c) of B moves column c of A @ B by delta * A[:, r].
        out_line, inner = (r, c) if left else (c, r)
        n_lines = shape[0] if left else shape[1]
        count = valid.sum(axis=1)
        R = int(count.max()) if count.size else 0
        if R == 0:
            return None  # no perturbation changed anything the product reads
        order = np.argsort(~valid, axis=1, kind="stable")[:, :R]
        keep = np.take_along_axis(valid, order, axis=1)
        lines = np.where(keep, np.take_along_axis(out_line, order, axis=1), n_lines)
        inner = np.take_along_axis(inner, order, axis=1)
        d = np.where(keep, np.take_along_axis(delta, order, axis=1), 0.0)
        srt = np.sort(lines, axis=1)
        if ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] < n_lines)).any():
            return NotImplemented  # two changed entries on one line: dense
        ov = self.values[other]
        if left:
            base = np.take(self.axis_ext(k, 0), lines, axis=0)  # (B, R, m)
            return Slices(0, lines, base + d[:, :, None] * ov[inner])
        base = np.moveaxis(np.take(self.axis_ext(k, 1), lines, axis=1), 1, 0)  # (B, n, R)
        return Slices(1, lines, base + d[:, None, :] * np.moveaxis(ov[:, inner], 1, 0))

    # -- reductions
    def _reduce(self, k, op, got, B):
        (g,) = got
        fn, axes, keepdims = op.attrs
        src = op.args[0]
        shape = self.rec.ops[src].shape
        if isinstance(g, Slices):
            if g.axis not in axes:
                val = reduce_axes(fn, g.val, tuple(a + 1 for a in axes), keepdims)
                axis = g.axis if keepdims else g.axis - sum(a < g.axis for a in axes)
                return Slices(axis, g.idx, val)
            if fn != "sum":
                return NotImplemented
            old = np.moveaxis(np.take(self.axis_ext(src, g.axis), g.idx, axis=g.axis), g.axis, 0)
            R = g.idx.shape[1]
            ok = (g.idx < shape[g.axis]).reshape(
                (B,) + (1,) * g.axis + (R,) + (1,) * (len(shape) - g.axis - 1))
            diff = np.where(ok, g.val - old, 0.0)
            delta = np.sum(diff, axis=tuple(a + 1 for a in axes), keepdims=keepdims)
            return Dense(self.values[k][None] + delta)
        if isinstance(g, Entries) and fn == "sum":
            size = prod(shape)
            out_size = prod(op.shape)
            table = _reduce_table(shape, axes, out_size)
            valid = g.pos < size
            diff = np.where(valid, g.val - np.take(self.flat_ext(src), g.pos), 0.0)
            delta = np.zeros((B, out_size + 1))
            np.add.at(delta, (np.arange(B)[:, None], table[g.pos]), diff)
            total = np.ravel(self.values[k])[None] + delta[:, :out_size]
            return Dense(total.reshape((B,) + op.shape))
        return NotImplemented

    # -- moves
    def _gather(self, k, op, got, B):
        """Fancy indexing of slices (log-probabilities picked by label): each picked
        element comes from its slice's new value where the slice changed."""
        g, gi = got
        if not isinstance(g, Slices) or gi is not None:
            return NotImplemented
        src = op.args[0]
        shape = self.rec.ops[src].shape
        flat = np.ravel(self.values[op.args[1]]).astype(np.int64)
        coords = np.unravel_index(flat, shape)
        line = coords[g.axis]  # (q,) the slice each picked element lies in
        rest_shape = shape[:g.axis] + shape[g.axis + 1:]
        rest = (np.ravel_multi_index(coords[:g.axis] + coords[g.axis + 1:], rest_shape)
                if rest_shape else np.zeros_like(flat))
        n = shape[g.axis]
        slot = np.full((B, n + 1), -1, dtype=np.int64)
        np.put_along_axis(slot, g.idx, np.arange(g.idx.shape[1])[None, :], axis=1)
        r = slot[:, line]  # (B, q): where each picked element's slice sits, or -1
        vals = np.moveaxis(g.val, g.axis + 1, 1).reshape(B, g.idx.shape[1], -1)
        picked = vals[np.arange(B)[:, None], np.maximum(r, 0), rest[None, :]]
        cached = np.ravel(self.values[k])
        return Dense(np.where(r >= 0, picked, cached[None, :]).reshape((B,) + op.shape))

    def _reshape(self, k, op, got, B):
        (g,) = got
        if isinstance(g, Entries):
            return g  # C order: the same flat positions
        shape = self.rec.ops[op.args[0]].shape
        if isinstance(g, Slices) and g.axis == 0 and shape and op.shape and \
                op.shape[0] == shape[0]:
            return Slices(0, g.idx, g.val.reshape(g.val.shape[:2] + op.shape[1:]))
        return NotImplemented

    def _transpose(self, k, op, got, B):
        (g,) = got
        axes = op.attrs[0]
        if isinstance(g, Entries):
            shape = self.rec.ops[op.args[0]].shape
            return Entries(np.take(_inverse_table(shape, ("transpose", axes)), g.pos), g.val)
        if isinstance(g, Slices):
            return Slices(list(axes).index(g.axis), g.idx,
                          g.val.transpose((0,) + tuple(a + 1 for a in axes)))
        return NotImplemented

    def _index(self, k, op, got, B):
        (g,) = got
        if not isinstance(g, Entries):
            return NotImplemented
        shape = self.rec.ops[op.args[0]].shape
        pos = np.take(_inverse_table(shape, ("index", op.attrs[0])), g.pos)
        out_size = prod(op.shape)
        if (pos == out_size).all():
            return None  # the perturbed entries are not in the slice
        return Entries(pos, g.val)


def _changed(moved, n):
    """The lines (B, R) each perturbation moved (``moved`` (B, n) bool), padded with
    n, when at most ``DENSE_FRACTION`` of them are needed; else None (dense)."""
    count = moved.sum(axis=1)
    R = int(count.max()) if count.size else 0
    if R > DENSE_FRACTION * n:
        return None
    return _compact(moved, R, n)


def _compact(moved, R, n):
    """For each row of ``moved`` (B, n) bool, the positions of its True entries in
    order, padded with n to R (a scatter: cheaper than a stable argsort)."""
    B = moved.shape[0]
    lines = np.full((B, R + 1), n, dtype=np.int64)
    rows, cols = np.nonzero(moved)
    slot = np.cumsum(moved, axis=1)[rows, cols] - 1
    lines[rows, slot] = cols
    return lines[:, :R]


def _low_rank(left, right):
    """``left (B, n, R) @ right (B, R, m)`` for a small R: R outer products."""
    R = left.shape[2]
    if R > 8:
        return np.matmul(left, right)
    out = None
    for r in range(R):  # contiguous factors: NumPy's strided broadcast is 4x slower
        term = np.ascontiguousarray(left[:, :, r])[:, :, None] * \
            np.ascontiguousarray(right[:, r, :])[:, None, :]
        out = term if out is None else out + term
    return out


def _broadcast_entries(g, shape, S):
    """Entries of a value of ``shape`` as the entries of its broadcast to ``S``."""
    fan = _fan_table(shape, S)  # (size + 1, F)
    F = fan.shape[1]
    pos = fan[g.pos].reshape(g.pos.shape[0], -1)
    return Entries(pos, np.repeat(g.val, F, axis=1))


_TABLES = {}


def _fan_table(shape, S):
    """For each flat position of a value of ``shape`` (and the padding slot), the
    flat positions of its copies in the broadcast to ``S``: (size + 1, F)."""
    key = ("fan", shape, S)
    table = _TABLES.get(key)
    if table is None:
        size, out = prod(shape), prod(S)
        source = np.broadcast_to(np.arange(size).reshape(shape), S).ravel()
        order = np.argsort(source, kind="stable")
        F = out // max(size, 1)
        table = np.full((size + 1, F), out, dtype=np.int64)
        table[:size] = order.reshape(size, F)
        _TABLES[key] = table
    return table


def _inverse_table(shape, how):
    """For each flat position of a value of ``shape`` (and the padding slot), its
    position in the moved value (a transpose or basic slice), or the moved
    value's size (padding) where a slice drops it."""
    key = ("inv", shape, repr(how))
    table = _TABLES.get(key)
    if table is None:
        size = prod(shape)
        src = np.arange(size).reshape(shape)
        moved = src.transpose(how[1]) if how[0] == "transpose" else src[tuple(how[1])]
        moved = np.ravel(moved)
        table = np.full(size + 1, moved.size, dtype=np.int64)
        table[moved] = np.arange(moved.size)
        _TABLES[key] = table
    return table


def _reduce_table(shape, axes, out_size):
    """For each flat position of a value of ``shape`` (and padding), the flat
    position of the reduction's output it adds into."""
    key = ("red", shape, tuple(axes))
    table = _TABLES.get(key)
    if table is None:
        kept = [d for d in range(len(shape)) if d not in axes]
        grid = np.indices(shape).reshape(len(shape), -1)
        if kept:
            out = np.ravel_multi_index(tuple(grid[d] for d in kept),
                                       tuple(shape[d] for d in kept))
        else:
            out = np.zeros(grid.shape[1], dtype=np.int64)
        table = np.append(out, out_size).astype(np.int64)
        _TABLES[key] = table
    return table

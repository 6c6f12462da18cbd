"""The incremental engine: finite differences of a traced record that recompute, per
perturbed coordinate, only what depends on it (``engines.changes``).

The record is evaluated once at theta and every value kept. The coordinates
of one parameter tensor are perturbed a block at a time, every stencil point
of every coordinate in the block stacked along a batch axis: the change of a
weight of ``X @ W`` is one column of the product, stays that column through
the bias and the ReLU, becomes the changed rows of the examples it reaches
through the next product, and only those rows run on to the loss (batched
products); values that do not depend on the tensor come from the cache.
Nothing of theta is copied or perturbed in place: each batch builds its
perturbed entries from theta's values, so nothing needs restoring.

Once a check has asked for ``TAIL_MIN_COORDS`` coordinates of a tensor, the
record past its first product runs as generated, compiled code
(``engines.tail``): kept if its estimates at the probe coordinates agree with
the generic engine's and it runs a probe batch faster than the NumPy pass;
a tail that fails later hands the tensor back to the NumPy pass.

A tensor whose record reaches an operation the evaluator does not know, or
whose estimates at a few probe coordinates disagree with the generic engine's
(the compiled cost's), runs on the generic engine, with a note. The closer
look and ``locate``'s ``points`` run on the generic engine too (a direction
perturbs whole tensors).
"""

import time
from concurrent.futures import ThreadPoolExecutor
from math import prod

import numpy as np

from ..compiler.tracegen import live_nodes
from ..planning.methods import CENTRAL_METHOD, DIFFERENCES, method_record
from .base import Engine, empty_block
from .changes import SUPPORTED, Batch, evaluate_at
from .tail import make_tail

#: Elements of one batched dense value: a block of coordinates is cut so that
#: a value of the record for all of its perturbations stays within this.
CHUNK_ELEMENTS = 1 << 20
#: Values of that size alive at once in a batch (a bound on its working set).
LIVE_VALUES = 8
#: The probe's coordinates per tensor (first, middle, last) and its relative step.
PROBE_STEP = 1e-3
#: A tensor runs its record past the first product as compiled code
#: (``engines.tail``) once the check has asked for this many of its coordinates,
#: compiled then: a cold compile costs seconds (once: then the disk cache's
#: load, milliseconds), the NumPy pass 10 to 75 us a point more than the tail
#: (measured on [784, 64, 10], W @ X and X @ W, at load 10), so a sampled check
#: of a few hundred coordinates never compiles one.
TAIL_MIN_COORDS = 1000


class Traced:
    """What the engine needs of a traced record, built once per check: the
    record, its output node, every live value at theta (``values``), and per
    parameter node its dependent nodes in order, or the reason it has none."""

    def __init__(self, rec, output, theta):
        self.rec, self.output = rec, output
        live = live_nodes(rec, output)
        self.live = live
        self.values = evaluate_at(rec, live, theta)
        self.j0 = float(np.asarray(self.values[output]).reshape(()))
        self.last_use = {}
        for k in live:
            for a in rec.ops[k].args:
                if not isinstance(a, (int, np.integer)):
                    continue
                self.last_use[a] = k
        self.tails = {}  # param node -> its compiled tail (``engines.tail``), once probed
        self.tried = set()  # param nodes whose tail was probed (kept or not)
        self.seen = {}  # param node -> its coordinates asked for so far
        self.probed = {}  # param node -> the probe's (idx, h, generic estimates)
        self.params = {}  # param node -> (offset, size, order, reason or None)
        for k in live:
            op = rec.ops[k]
            if op.kind == "param":
                offset, shape = op.attrs
                order = [k] + [j for j in live if j > k and self._reaches(k, j)]
                unknown = sorted({rec.ops[j].kind for j in order} - SUPPORTED)
                reason = (f"its record holds operations the incremental engine does not know "
                          f"({', '.join(unknown)})") if unknown else None
                self.params[k] = (offset, prod(shape), order, reason)

    def _reaches(self, k, j):
        cache = self.__dict__.setdefault("_dep", {})
        key = k
        if key not in cache:
            reached = {k}
            for i in self.live:
                if i > k and any(a in reached for a in self.rec.ops[i].args
                                 if isinstance(a, (int, np.integer))):
                    reached.add(i)
            cache[key] = reached
        return j in cache[key]

    def width(self, order):
        """The largest value among ``order``'s nodes (elements), at least 1."""
        return max([1] + [prod(self.rec.ops[j].shape) for j in order])

    @staticmethod
    def scratch_bytes(rec, output, threads):
        """Bytes of the cached values and the batches' working sets, from shapes alone."""
        live = live_nodes(rec, output)
        widest = max([1] + [prod(rec.ops[k].shape) for k in live])
        cached = 8 * sum(prod(rec.ops[k].shape) for k in live)
        return cached + threads * 8 * LIVE_VALUES * min(CHUNK_ELEMENTS, 4 * widest) + \
            8 * LIVE_VALUES * CHUNK_ELEMENTS


def _read_by_columns(rec, node, order):
    """The number of columns of param ``node`` (2-D) when the first product reading it
    takes it as its right factor (``X @ W``: a weight's change is a column), else 0."""
    shape = rec.ops[node].shape
    if len(shape) != 2:
        return 0
    for k in order[1:]:
        op = rec.ops[k]
        if op.kind == "matmul" and node in op.args:
            return shape[1] if op.args[1] == node and op.args[0] != node else 0
    return 0


def probe_all(traced, generic, theta, layout, method):
    """Probe every tensor of ``traced`` against ``generic`` (an engine over the
    compiled cost): ``(refused, notes, work)``, the param nodes the engine must
    hand on with their reasons, the notes naming those tensors, and the values
    the engine computed per perturbation on the probe (its cost per point)."""
    engine = IncrementalEngine(traced, generic, theta, layout, method, refused={})
    refused, counted, points, probes = {}, 0, 0, {}
    for node, (offset, size, order, reason) in traced.params.items():
        if reason is None:
            reason, probes[node] = engine.probe(node)
        if reason is not None:
            refused[node] = reason
    if probes:  # the generic engine's estimates at every tensor's probe, in one block
        idx = np.concatenate([p[0] for p in probes.values()])
        h = np.concatenate([p[1] for p in probes.values()])
        theirs = np.split(generic.block(idx, h).out,
                          np.cumsum([p[0].size for p in probes.values()])[:-1])
        for (node, (i, step, mine, elements)), their in zip(probes.items(), theirs):
            traced.probed[node] = (i, step, their)
            if not engine._agree(mine, their, step):
                refused[node] = ("its incremental estimates at probe coordinates disagreed "
                                 "with the compiled cost's")
            else:
                counted, points = counted + elements, points + i.size * len(engine.offsets)
    notes = [f"the generic engine checked {tensor_names(layout, *traced.params[node][:2])}: "
             f"{reason}" for node, reason in refused.items()]
    return refused, notes, counted / max(points, 1)


def tensor_names(layout, offset, size):
    """The names of the layout's tensors that theta[offset:offset + size] overlaps."""
    starts = layout.offsets
    names = [n for n, lo, hi in zip(layout.names, starts, starts[1:])
             if lo < offset + size and hi > offset]
    return ", ".join(names) if names else "no tensor"


class IncrementalEngine(Engine):
    """Estimates of a traced record's coordinates by incremental evaluation.

    ``traced`` is a ``Traced``; ``generic`` the generic engine over the same
    record compiled (it serves the tensors the evaluator cannot, ``points``
    and the probe); ``layout`` names tensors. ``refused`` maps the param nodes
    handed to the generic engine to the reason (``probe_all``).
    """

    name = "incremental"
    parallel = True

    def __init__(self, traced, generic, theta, layout, method=CENTRAL_METHOD, refused=None,
                 threads=1):
        self.method = method = method_record(method)
        if method.stencil.kind != DIFFERENCES:
            raise ValueError(f"the incremental engine runs difference stencils only, not "
                             f"method {method.name!r}")
        self.traced, self.generic, self.theta, self.layout = traced, generic, theta, layout
        self.offsets, self.weights, self.divisor = method.stencil.arrays()
        self.threads = max(1, int(threads))
        self._pool = None  # the threads that run a tensor's chunks side by side
        self.columns = {}  # param node -> its number of columns, if coordinates go by column
        self.failed = {}  # param node -> what its incremental evaluation raised mid-check
        self.batches = {}  # param node -> (offset, size, Batch, chunk)
        for node, (offset, size, order, reason) in traced.params.items():
            if reason is None and node not in (refused or {}):
                batch = Batch(traced.rec, order, traced.values, traced.output, traced.last_use)
                # The tensor itself changes in one entry: its own size does not count.
                chunk = max(1, CHUNK_ELEMENTS // (len(self.offsets) * traced.width(order[1:])))
                self.batches[node] = (offset, size, batch, chunk)
                self.columns[node] = _read_by_columns(traced.rec, node, order)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"] = None  # threads do not travel
        return state

    def probe(self, node):
        """``(reason, None)`` if evaluating ``node``'s record at a few coordinates
        raised, else ``(None, (idx, h, estimates, elements))``: the coordinates
        (first, middle, last), their steps, the engine's estimates there (for
        ``probe_all`` to compare with the generic engine's), and the values it
        computed."""
        offset, size, batch, _ = self.batches[node]
        idx = np.unique(np.array([offset, offset + size // 2, offset + size - 1], dtype=np.int64))
        h = PROBE_STEP * np.maximum(1.0, np.abs(self.theta[idx]))
        batch.elements = 0
        try:
            mine = self._estimates(node, idx, h)
        except Exception as exc:  # a rule that fails here fails safe: the generic engine
            return (f"evaluating its record incrementally raised {type(exc).__name__}: {exc}",
                    None)
        return None, (idx, h, mine, batch.elements)

    def _agree(self, mine, theirs, h):
        scale = max(1.0, abs(self.traced.j0))
        allowed = 1e-6 * np.maximum(np.abs(theirs), 1.0) + 1e4 * np.finfo(float).eps * scale / h
        return bool((np.abs(mine - theirs) <= allowed).all())

    def probe_tail(self, node):
        """Compile ``node``'s tail and keep it if its estimates at the probe's
        coordinates agree with the generic engine's; the reason it was not kept,
        or None. A tensor without one runs on the NumPy pass alone."""
        offset, size, batch, _ = self.batches[node]
        self.traced.tried.add(node)
        got = self.traced.probed.get(node)
        if got is None:  # a probe of another process (a Dask worker's engine)
            idx = np.unique(np.array([offset, offset + size // 2, offset + size - 1],
                                     dtype=np.int64))
            h = PROBE_STEP * np.maximum(1.0, np.abs(self.theta[idx]))
            got = idx, h, self.generic.block(idx, h).out
        idx, h, theirs = got
        local = np.repeat(idx - offset, len(self.offsets))
        points = (self.theta[idx][:, None] + self.offsets[None, :] * h[:, None]).ravel()
        try:
            tail, reason = make_tail(batch, node, local, points)
            if tail is None:
                return reason
            tail.function  # compiled (or loaded) here, not in the first block
            self.traced.tails[node] = tail
            mine = self._estimates(node, idx, h)
        except Exception as exc:  # a tail that fails to build or run: the NumPy pass
            self.traced.tails.pop(node, None)
            return f"{type(exc).__name__}: {exc}"
        if not self._agree(mine, theirs, h):
            del self.traced.tails[node]
            return "its estimates disagreed with the compiled cost's"
        if not self._tail_pays(node):
            del self.traced.tails[node]
            return "it ran slower than the NumPy pass"
        return None

    def _tail_pays(self, node, count=32, repeats=2):
        """True if ``node``'s tail runs a batch of ``count`` coordinates faster than
        the NumPy pass alone (best of ``repeats`` each: the same batch, so the
        machine's load cancels). A tail whose record goes dense past its first
        operation (an im2col CNN's logits) runs one perturbation at a time, slower
        than the NumPy pass's batched operations."""
        offset, size, batch, _ = self.batches[node]
        n = min(count, size)
        local = np.repeat(np.arange(n), len(self.offsets))
        points = np.repeat(self.theta[offset:offset + n], len(self.offsets)) + 1e-3
        tail = self.traced.tails[node]
        best = {}
        for way in (None, tail) * repeats:
            start = time.perf_counter()
            batch.run(node, local, points, tail=way)
            seconds = time.perf_counter() - start
            best[way is None] = min(seconds, best.get(way is None, seconds))
        return best[False] < best[True]

    def _estimates(self, node, idx, h):
        """The stencil's estimates at flat indices ``idx`` of ``node``'s tensor, rounded
        as ``kernels.central.sweep`` rounds them."""
        columns = self.columns.get(node)
        if columns:
            # The weights of one column of ``X @ W`` move the same examples: a chunk of
            # them pads its changed examples to fewer (C-order runs along the rows).
            order = np.argsort((idx - self.batches[node][0]) % columns, kind="stable")
            out = np.empty(idx.shape[0])
            out[order] = self._estimates_in_order(node, idx[order], h[order])
            return out
        return self._estimates_in_order(node, idx, h)

    def _estimates_in_order(self, node, idx, h):
        offset, size, batch, chunk = self.batches[node]
        tail = self.traced.tails.get(node)
        if tail is not None:
            chunk = max(chunk, tail.chunk(len(self.offsets)))
        out = np.empty(idx.shape[0])
        offsets, S = self.offsets, self.offsets.shape[0]

        def one(lo):
            i, step = idx[lo:lo + chunk], h[lo:lo + chunk]
            points = self.theta[i][:, None] + offsets[None, :] * step[:, None]
            local, tail = np.repeat(i - offset, S), self.traced.tails.get(node)
            try:
                J = batch.run(node, local, points.ravel(), tail=tail)
            except Exception:
                if tail is None:
                    raise
                # A tail that fails on a block the probe did not meet: the NumPy pass
                # serves the tensor from here (it is exact wherever it runs).
                self.traced.tails.pop(node, None)
                J = batch.run(node, local, points.ravel())
            J = J.reshape(-1, S)
            for j, weight in enumerate(self.weights):
                a, b = offsets[2 * j], offsets[2 * j + 1]
                d = (J[:, 2 * j] - J[:, 2 * j + 1]) / ((a - b) * step)
                estimate = weight * d if j == 0 else estimate + weight * d
            out[lo:lo + chunk] = estimate / self.divisor

        starts = range(0, idx.shape[0], chunk)
        if self.threads > 1 and len(starts) > 1:
            # NumPy lets go of the GIL inside its loops: chunks run side by side.
            if self._pool is None:  # one pool for the check: a thread start costs ms
                self._pool = ThreadPoolExecutor(self.threads)
            list(self._pool.map(one, starts))
        else:
            for lo in starts:
                one(lo)
        return out

    def block(self, idx, h):
        res = empty_block(idx.shape[0])
        rest = np.ones(idx.shape[0], dtype=bool)
        for node, (offset, size, _, _) in list(self.batches.items()):
            mine = (idx >= offset) & (idx < offset + size)
            seen = self.traced.seen[node] = self.traced.seen.get(node, 0) + int(mine.sum())
            if node not in self.traced.tried and seen >= TAIL_MIN_COORDS:
                self.probe_tail(node)
            if mine.any():
                try:
                    res.out[mine] = self._estimates(node, idx[mine], h[mine])
                except (ValueError, IndexError, TypeError) as exc:
                    # A rule that fails on coordinates the probe did not meet fails
                    # safe: this tensor's coordinates go to the generic engine.
                    del self.batches[node]
                    self.failed[node] = f"{type(exc).__name__}: {exc}"
                    continue
                rest &= ~mine
        if rest.any():
            other = self.generic.block(idx[rest], h[rest])
            res.out[rest] = other.out
            res.kinks[rest] = other.kinks
            # The report counts where each coordinate ran, not where it was sent.
            handed = int(rest.sum())
            res = res._replace(ran={k: v for k, v in ((self.name, idx.shape[0] - handed),
                                                      (self.generic.name, handed)) if v})
            if other.error is not None:
                return res._replace(error=other.error)
        return res

    def late_notes(self):
        """The report's notes on tensors handed to the generic engine during the
        check (a rule that raised on coordinates the probe did not meet)."""
        return tuple(f"the generic engine checked the rest of "
                     f"{tensor_names(self.layout, *self.traced.params[node][:2])}: evaluating "
                     f"its record incrementally raised {reason}"
                     for node, reason in self.failed.items())

    def points(self, ptr, idx, delta):
        """The generic engine's: a direction perturbs whole tensors."""
        return self.generic.points(ptr, idx, delta)

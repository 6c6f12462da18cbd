"""Drivers for the ``points`` pass of ``fastcheck.locate``: J at theta +- delta
along batches of signed subset directions, here or on a Dask cluster.

A batch is cut into chunks of at most ``MAX_ENTRIES`` direction entries (so a
batch of whole-tensor directions over a million parameters stays within a few
tens of MB) and run chunk by chunk, so a progress bar moves and Ctrl-C lands
between chunks. Every value is checked for finiteness.
"""

import contextlib
import time
import uuid

import numpy as np

from ..runtime.blas import single_threaded_blas
from ..errors import CostError
from ..runtime.memory import ensure_fits
from ..planning.methods import CENTRAL_METHOD
from .local import PROGRESS_AFTER_SECONDS, thread_count
from .progress import progress_bar, visible

#: Direction entries (flat index + delta, 16 bytes each) in one chunk.
MAX_ENTRIES = 1 << 21


def chunks(subsets, deltas, rows):
    """(ptr, idx, delta, first, stop) chunks of the directions ``subsets[k]`` (flat
    indices) with perturbations ``deltas[k]``, in order, each of at least
    ``rows`` directions (so every thread has work) and else at most
    ``MAX_ENTRIES`` entries."""
    start, count = 0, len(subsets)
    while start < count:
        stop, entries = start, 0
        while stop < count and (stop - start < rows or entries + subsets[stop].size
                                <= MAX_ENTRIES):
            entries += subsets[stop].size
            stop += 1
        sizes = [s.size for s in subsets[start:stop]]
        ptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        idx = np.concatenate(subsets[start:stop], dtype=np.int64, casting="same_kind")
        delta = np.concatenate(deltas[start:stop], dtype=np.float64, casting="same_kind")
        yield ptr, idx, delta, start, stop
        start = stop


def checked(j_plus, j_minus, error, subsets, first, describe):
    """``CostError`` naming a direction whose values are not finite (the cost
    raised in compiled code, or returned NaN or Inf there)."""
    bad = ~(np.isfinite(j_plus) & np.isfinite(j_minus))
    if error is None and not bad.any():
        return
    d = int(np.argmax(bad)) if bad.any() else 0
    S = subsets[first + d]
    raised = f"raised {type(error).__name__} ({error}) " if error is not None else \
        "returned NaN or Inf, or raised inside compiled code, "
    raise CostError(f"the cost {raised}along a direction over {S.size} coordinates starting at "
                    f"{describe(int(S[0]))} (fastcheck.locate). Call the cost from Python at "
                    "theta +- 1e-7 there to see why") from error


class Progress:
    """A tqdm counter of evaluations, opened when ``progress`` is True, or when it
    is None, the run has taken ``PROGRESS_AFTER_SECONDS`` and someone can see it
    (a terminal, or a Jupyter kernel: ``run.progress.visible``)."""

    def __init__(self, progress, label):
        self.progress, self.label, self.bar = progress, label, None
        self.start, self.done = time.perf_counter(), 0

    def update(self, evaluations):
        self.done += evaluations
        if self.bar is None and self.progress is not False and (
                self.progress or (time.perf_counter() - self.start > PROGRESS_AFTER_SECONDS
                                  and visible())):
            self.bar = progress_bar(None, self.label, unit="eval")
            self.bar.update(self.done - evaluations)
        if self.bar is not None:
            self.bar.update(evaluations)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class LocalPoints:
    """``points(subsets, deltas) -> (j_plus, j_minus)`` on this machine's threads,
    from ``adapter``'s engine ``engine`` (built once, for all batches)."""

    def __init__(self, adapter, engine, *, threads=None, progress=None):
        self.adapter, self.threads = adapter, threads
        with thread_count(threads) as count:
            needed = adapter.scratch_bytes(engine, CENTRAL_METHOD, count)
            ensure_fits(needed, f"the {engine} engine on {adapter.layout.size} parameters "
                                f"with {count} threads")
            self.run = adapter.build(engine, CENTRAL_METHOD, count)
        self.rows, self.name = count, self.run.name
        self.bar = Progress(progress, f"fastcheck.locate ({self.name})")

    def __call__(self, subsets, deltas):
        j_plus, j_minus = np.empty(len(subsets)), np.empty(len(subsets))
        parallel = self.run.parallel and self.rows > 1
        with thread_count(self.threads), \
                single_threaded_blas() if parallel else contextlib.nullcontext():
            for ptr, idx, delta, first, stop in chunks(subsets, deltas, self.rows):
                jp, jm, error = self.run.points(ptr, idx, delta)
                checked(jp, jm, error, subsets, first, self.adapter.layout.describe)
                j_plus[first:stop], j_minus[first:stop] = jp, jm
                self.bar.update(2 * (stop - first))
        return j_plus, j_minus

    def close(self):
        self.bar.close()


class DaskPoints:
    """The same on the workers of a Dask cluster: the adapter is shipped once (as
    ``drivers/dask.py`` ships it), each worker builds its engine once, and each
    chunk of directions is one task. Values do not depend on where a chunk ran."""

    def __init__(self, adapter, engine, *, client, progress=None):
        from .dask import _ensure_workers_fit, _pickled, _ship

        workers = client.scheduler_info().get("workers", {})
        _ensure_workers_fit(adapter, engine, CENTRAL_METHOD, workers)
        self.adapter, self.engine, self.client = adapter, engine, client
        self.token = uuid.uuid4().hex
        self.shipped = _ship(client, _pickled(adapter), self.token)
        self.rows = max(1, sum(w.get("nthreads", 1) for w in workers.values()))
        self.name = engine
        self.bar = Progress(progress, f"fastcheck.locate ({engine} on Dask)")
        self.calls = 0

    def __call__(self, subsets, deltas):
        j_plus, j_minus = np.empty(len(subsets)), np.empty(len(subsets))
        parts = list(chunks(subsets, deltas, 1))
        self.calls += 1
        futures = self.client.map(
            _points_task, [self.shipped] * len(parts), [self.engine] * len(parts),
            [self.token] * len(parts), [p[:3] for p in parts],
            key=[f"fastcheck-points-{self.token}-{self.calls}-{p[3]}" for p in parts],
            retries=0, pure=False)
        try:
            for (ptr, idx, delta, first, stop), (jp, jm, error) in zip(
                    parts, self.client.gather(futures)):
                checked(jp, jm, error, subsets, first, self.adapter.layout.describe)
                j_plus[first:stop], j_minus[first:stop] = jp, jm
                self.bar.update(2 * (stop - first))
        except BaseException:
            self.client.cancel(futures)
            raise
        return j_plus, j_minus

    def close(self):
        from .dask import _forget

        self.bar.close()
        self.shipped.release()
        with contextlib.suppress(Exception):
            self.client.run(_forget, self.token)


def _points_task(payload, engine, token, chunk):
    """One chunk of directions on a worker: (j_plus, j_minus, error)."""
    from .dask import _engine

    # No closer look runs here, so the engine needs no J at theta.
    adapter, run, threads, lock = _engine(payload, (engine, CENTRAL_METHOD, None), token)
    parallel = run.parallel and threads > 1
    with lock, thread_count(threads), \
            single_threaded_blas() if parallel else contextlib.nullcontext():
        return run.points(*chunk)

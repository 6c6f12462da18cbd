"""The Dask driver: runs an engine's passes in blocks on the workers of a Dask cluster.

The adapter (plain data: the user's cost, layout, theta, data) goes to every
worker once; each worker builds its engine once, from that copy, and keeps it
for the check's passes (the estimates, then the closer look's slopes) under a
token (``_ENGINES``), so a compiled cost is rebuilt there
from the disk cache, or compiled once, never shipped. It runs any pass of
``engines.passes.PASSES``: the estimates, the closer look's slopes, locate's
directions. Blocks are pure, so a
block whose worker died is simply run again elsewhere, and the estimates are
bit-identical to a local run of the same engine and method.

Each pass sends one small block per worker first: it builds the engines everywhere at
once and measures a block; as soon as one has, the rest are sized from it to
take about ``TARGET_SECONDS`` each, and mapped in one go. Dask's modules are imported
when a check asks for a cluster: the driver is an optional extra.
"""

import asyncio
import contextlib
import math
import threading
import time
import uuid
import warnings

import numba
import numpy as np

from ..engines.passes import PASSES, items, pass_record, take
from ..errors import ClusterError, CostError, MemoryBudgetError, OptionError
from ..runtime.blas import single_threaded_blas
from ..runtime.memory import HEADROOM, ensure_fits, format_bytes
from .blocks import (TARGET_SECONDS, Estimates, first_block, run_blocks, seconds_per_item,
                     thread_count)
from .progress import Bars
from .shipping import guard, pickled, refuse_unguarded_main, unpickled

#: Blocks are never smaller than this much work: below it, the scheduler's
#: overhead per task (about a millisecond, benchmarks/test_bench_dask.py) shows.
MIN_BLOCK_SECONDS = 0.02
#: At least this many blocks per worker thread, so the last ones balance out.
BLOCKS_PER_THREAD = 4
#: Engines a worker keeps at most (one per run; a run cleans up after itself,
#: this only bounds what an interrupted client leaves behind).
KEEP_ENGINES = 4

INSTALL = "pip install 'fastcheck[dask]'"
#: How long a ``workers=N`` cluster closed by Ctrl-C waits for its workers'
#: blocks (0.8 of it) before it kills them, and then for them to exit.
STOP_SECONDS = 0.5
#: Where ``workers=N`` clusters listen: this machine only.
LOOPBACK = "127.0.0.1"
#: How long a ``workers=N`` cluster may take to start, scheduler and every worker.
START_SECONDS = 60.0
GUARD = guard("Dask")

# In a worker process: token -> (engine, threads, lock). The lock serialises the
# blocks of one engine: its scratch rows are its own, and a worker with several
# threads runs them as Numba threads of one engine instead.
_ENGINES = {}
_ENGINES_LOCK = threading.Lock()


def _distributed():
    """The ``distributed`` module, or ``OptionError`` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise OptionError(f"client= and workers= run the check on Dask; install it with "
                          f"{INSTALL}") from None
    return distributed


def validate(client, workers, threads):
    """``OptionError`` unless ``client``/``workers``/``threads`` go together:
    at most one of ``client`` (a ``distributed.Client``) and ``workers`` (an
    int >= 1), and ``threads`` only without either (a cluster has its own)."""
    if client is None and workers is None:
        return
    if client is not None and workers is not None:
        raise OptionError("pass client= (an existing cluster) or workers= (a local cluster "
                          "for this check), not both")
    if threads is not None:
        raise OptionError("threads= sets this machine's threads; on a cluster each worker "
                          "uses its own (threads_per_worker), so drop threads=")
    distributed = _distributed()
    if client is not None and not isinstance(client, distributed.Client):
        raise OptionError(f"client must be a distributed.Client, got {type(client).__name__}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(
            workers, (int, np.integer)) or workers < 1):
        raise OptionError(f"workers must be an integer of at least 1, got {workers!r}")


@contextlib.contextmanager
def session(adapter, plan, *, client=None, workers=None, threads=None, progress=None,
            items=None):
    """The ``DaskDriver`` on ``client``, or on a cluster of ``workers`` started for
    the body (the registry's entry point; ``threads`` and ``items`` concern
    this machine's threads, which a cluster does not use)."""
    with cluster(client, workers) as dask_client, \
            DaskDriver(adapter, plan, client=dask_client, progress=progress) as remote:
        yield remote


@contextlib.contextmanager
def cluster(client=None, workers=None):
    """Yield ``client``, or a client of a ``LocalCluster`` of ``workers``
    one-thread processes started for the body and closed after it."""
    if client is not None:
        yield client
        return
    distributed = _distributed()
    refuse_unguarded_main("Dask", "workers=")
    local = _start_cluster(distributed, int(workers))
    try:
        with distributed.Client(local) as own:
            yield own
    except BaseException:
        # Ctrl-C or an error: a worker may still be inside a block, and a nanny
        # waits 4 s for it by default before it kills the process.
        with contextlib.suppress(Exception):
            local.sync(_stop_workers, local)
        raise
    finally:
        local.close()


def _start_cluster(distributed, workers):
    """A ``LocalCluster`` of ``workers`` one-thread processes, started within
    ``START_SECONDS``, or ``ClusterError`` saying what did not start."""
    import dask

    try:
        # Processes, not threads: a Python cost holds the GIL. Without a dashboard the
        # scheduler still serves /health on 8787 by default (warning when another
        # cluster has it): a free port on loopback instead. death_timeout bounds
        # each worker's start (a preload that hangs, a process that never reports).
        with dask.config.set({"distributed.comm.timeouts.connect": f"{START_SECONDS}s"}):
            return distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, host=LOOPBACK, death_timeout=START_SECONDS,
                scheduler_kwargs={"dashboard_address": f"{LOOPBACK}:0"})
    except Exception as exc:
        timed_out = any(isinstance(e, (TimeoutError, asyncio.TimeoutError))
                        for e in _chain(exc))
        happened = (f"did not start within {START_SECONDS:g} s" if timed_out
                    else f"failed to start ({type(exc).__name__}: {exc})")
        raise ClusterError(
            f"workers={workers}: the local Dask cluster (a scheduler and {workers} worker "
            f"processes on {LOOPBACK}) {happened}. If your script runs the check at its top "
            f"level, {GUARD}. Otherwise this machine may not let Python listen on "
            f"{LOOPBACK} or start processes (a sandbox, a firewall, a preload that hangs, "
            "too little memory): run without workers=, or start a cluster yourself and "
            "pass client=") from None


def _chain(exc):
    """``exc`` and the exceptions it was raised from or during, innermost last."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _lost(exc, client):
    """``ClusterError`` for ``exc`` if it means the cluster went away mid-check, else None."""
    distributed = _distributed()
    gone = isinstance(exc, (distributed.client.FutureCancelledError,
                            distributed.comm.CommClosedError, asyncio.CancelledError))
    if not gone and getattr(client, "status", "running") == "running":
        return None
    address = getattr(getattr(client, "scheduler", None), "address", None) or "?"
    return ClusterError(f"the Dask scheduler at {address} went away during the check "
                        f"({type(exc).__name__}): it was stopped, killed or lost from the "
                        "network, and the blocks still running were cancelled. Restart the "
                        "cluster (or run without client= and workers=) and check again")


async def _stop_workers(local):
    """Close every nanny of ``local``, killing its worker after ``STOP_SECONDS``."""
    await asyncio.gather(*(worker.close(timeout=STOP_SECONDS)
                           for worker in list(local.workers.values())))


class DaskDriver:
    """Runs a plan's engine passes on the workers of a Dask ``client``.

    A context manager: entering checks each worker's scratch against its
    memory limit (``MemoryBudgetError``) and ships the adapter once; ``run``
    runs a pass in blocks on the workers, each of which builds the plan's
    engine once, from its own copy, and keeps it for every pass; leaving
    releases the adapter, drops the workers' engines and closes the progress bar.

    It reads from ``plan`` only ``layout``, ``engine``, ``method``, ``j0`` and
    ``seconds_per_coordinate``.
    """

    def __init__(self, adapter, plan, *, client, progress=None):
        self.adapter, self.plan, self.client, self.progress = adapter, plan, client, progress
        self.shipped, self.runs = None, 0

    def __enter__(self):
        self.distributed = _distributed()
        info = self.client.scheduler_info()
        self.workers = info.get("workers", {})
        if not self.workers:
            raise OptionError(f"the Dask cluster at {info.get('address', '?')} has no workers")
        self.needed = _ensure_workers_fit(self.adapter, self.plan.engine, self.plan.method,
                                          self.workers)
        self.token = uuid.uuid4().hex
        self.spec = (self.plan.engine, self.plan.method, self.plan.j0)
        self.shipped = _ship(self.client, pickled(self.adapter, "Dask", "run without client= and workers="),
                             self.token)
        self.bars = Bars(self.progress, f"fastcheck {self.plan.engine} on {len(self.workers)} "
                                        "Dask workers")
        return self

    def __exit__(self, *exc):
        self.bars.close()
        self.shipped.release()
        with contextlib.suppress(Exception):
            self.client.run(_forget, self.token)

    def run(self, pass_name, work, *, deadline=None):
        """Pass ``pass_name`` (of ``engines.passes.PASSES``) over ``work`` (its
        shape, as ``LocalDriver.run`` takes it); ``Estimates`` in the order of
        the work's items.

        A cost that raises is a ``CostError`` naming the item, as locally; a
        block that kills every worker it runs on (Dask's ``KilledWorker``) is
        a ``CostError`` naming the block's items. Ctrl-C cancels what is left,
        and so does ``deadline`` (perf_counter seconds): the blocks that had
        not finished by then are not ``done``.
        """
        record = pass_record(pass_name)
        client, distributed, workers = self.client, self.distributed, self.workers
        n = items(work)
        self.runs += 1
        prefix = f"fastcheck-{pass_name}-{self.token}-{self.runs}"

        def submit(starts, stops, **where):
            futures = client.map(
                _block, [self.shipped] * len(starts), [self.spec] * len(starts),
                [self.token] * len(starts), [pass_name] * len(starts),
                [take(work, a, b) for a, b in zip(starts, stops)],
                key=[f"{prefix}-{a}" for a in starts], retries=0, pure=False, **where)
            bounds.update(zip(futures, zip(starts, stops)))
            return futures

        out, kinks = np.full((n,) + record.shape, np.nan), np.zeros(n, dtype=bool)
        done = np.zeros(n, dtype=bool)
        bounds = {}  # future -> (start, stop) into the work's items
        bar = self.bars.of(pass_name, record.work.unit)
        bar.expect(n)
        per_item = seconds_per_item(self.plan, record)
        name = None
        try:
            # One small block per worker first: each builds its engine and times a block.
            first = max(1, min(first_block(per_item, 1), math.ceil(n / len(workers))))
            spans = [(lo, min(lo + first, n)) for lo in range(0, n, first)][:len(workers)]
            firsts = []
            for address, (lo, hi) in zip(workers, spans):
                firsts += submit([lo], [hi], workers=[address], allow_other_workers=True)
            finished = distributed.as_completed(firsts)
            rest = spans[-1][1] if spans else 0
            for future, result in _results(client, finished):
                lo, hi = bounds[future]
                name, took, block_out, block_kinks = _collect(
                    future, result, lambda: record.work.span(work, lo, hi,
                                                             self.plan.layout.describe),
                    distributed)
                out[lo:hi], kinks[lo:hi], done[lo:hi] = block_out, block_kinks, True
                if rest < n:
                    # The first block measured: the rest go in blocks of about
                    # TARGET_SECONDS, at least BLOCKS_PER_THREAD per worker thread.
                    threads = sum(w.get("nthreads", 1) for w in workers.values())
                    per = max(took / (hi - lo), 1e-9)
                    size = max(1, int(MIN_BLOCK_SECONDS / per),
                               min(int(TARGET_SECONDS / per),
                                   math.ceil((n - rest) / (BLOCKS_PER_THREAD * threads))))
                    starts = list(range(rest, n, size))
                    finished.update(submit(starts, starts[1:] + [n]))
                    rest = n
                bar.advance(hi - lo)
                if deadline is not None and time.perf_counter() > deadline:
                    client.cancel([f for f in bounds if f.status != "finished"])
                    break
        except BaseException as exc:
            # Ctrl-C, a cost that raised, a dead block: stop whatever has not run yet.
            with contextlib.suppress(Exception):
                client.cancel(list(bounds))
            lost = _lost(exc, client) if isinstance(exc, Exception) else None
            if lost is not None:
                raise lost from None
            raise
        return Estimates(out, kinks, done, name or self.plan.engine, self.needed)


def _ship(client, payload, token):
    """A future of ``payload`` (bytes) that every block depends on.

    A task that returns the bytes, rather than ``client.scatter(...,
    broadcast=True)``: scattered data that every holder lost (a cost that
    crashes the workers of a small cluster one after another) cannot be
    recovered, while a task's result is recomputed from the scheduler's copy
    (``tests/test_dask.py::test_cost_that_kills_its_worker``). Each worker
    fetches it once, from a peer that has it, and keeps it for the run. Dask
    warns of graphs over 10 MB: this one is large on purpose.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(_payload, payload, key=f"fastcheck-adapter-{token}", pure=False)


def _payload(payload):
    return payload


def _results(client, finished):
    """(future, result) of the futures of ``finished`` (an ``as_completed``) as
    they finish, failed ones first with None (``_collect`` raises their error).

    One ``gather`` per batch of finished blocks, not one round trip per block.
    (``as_completed(with_results=True)`` would gather in the background, but
    with distributed 2026.8 it left a check waiting forever now and then after
    every block had finished; benchmarks/test_bench_dask.py found it.)
    """
    for batch in finished.batches():
        done = [future for future in batch if future.status == "finished"]
        yield from ((future, None) for future in batch if future.status != "finished")
        yield from zip(done, client.gather(done))


def _collect(future, result, span, distributed):
    """A finished block's (engine name, seconds, values, kink flags).

    ``span()`` names the block's items in words (``Work.span``). A block that
    killed every worker it ran on becomes a ``CostError`` naming them: a cost
    that crashes its process (a segfault in compiled code, ``os._exit``, the
    kernel's OOM killer) when one of them is perturbed
    (``tests/test_dask.py::test_cost_that_kills_its_worker``).
    """
    try:
        if future.status != "finished":
            future.result()  # raises the block's error
    except distributed.KilledWorker:
        raise CostError(
            f"the cost crashed every Dask worker that ran {span()}: the process died (a segfault "
            "in compiled code, os._exit, running out of memory) when one of them was perturbed. "
            "Call the cost from Python at those points to see why") from None
    block_out, block_kinks, name, took = result
    return name, took, block_out, block_kinks


def _ensure_workers_fit(adapter, engine, method, workers):
    """The largest scratch of any worker, in bytes; ``MemoryBudgetError`` when a
    worker's scratch (one row per thread) exceeds ``HEADROOM`` of what its
    memory limit leaves (``scheduler_info()``; workers without a limit are
    checked against their own machine when they build the engine)."""
    largest = 0
    for address, worker in workers.items():
        threads = max(1, int(worker.get("nthreads", 1)))
        needed = adapter.scratch_bytes(engine, method, threads)
        largest = max(largest, needed)
        limit = worker.get("memory_limit") or 0
        if not limit:
            continue
        free = max(0, limit - int(worker.get("metrics", {}).get("memory", 0)))
        if needed > HEADROOM * free:
            raise MemoryBudgetError(
                f"the {engine} engine on {adapter.layout.size} parameters with {threads} "
                f"threads needs about {format_bytes(needed)} of scratch on Dask worker "
                f"{address}, but its memory limit leaves {format_bytes(free)}; check a "
                "sample (sample=10_000), give the workers more memory or fewer threads, or "
                "use the layered engine for models")
    return largest


# -- on the workers ---------------------------------------------------------------------

def _threads():
    """How many scratch rows (Numba threads) this worker's engine gets: one per
    worker thread, as many as Numba has."""
    from distributed import get_worker

    return max(1, min(get_worker().state.nthreads, numba.config.NUMBA_NUM_THREADS))


def _engine(payload, spec, token):
    """This worker's (adapter, engine, threads, lock) for run ``token``, built on first use.

    ``spec`` is the plan's (engine name, method, J at theta). Built from the
    worker's own copy of the adapter (unpickled from ``payload``, see
    ``shipping.pickled``): a compiled cost is loaded from the disk cache or compiled
    here, and checked against the Python cost at theta as on the client. A
    zero-coordinate block loads the engine's kernels, so the first real
    block's time measures the work alone.
    """
    engine, method, j0 = spec
    with _ENGINES_LOCK:
        entry = _ENGINES.get(token)
        if entry is None:
            adapter = unpickled(payload, "Dask")
            threads = _threads()
            needed = adapter.scratch_bytes(engine, method, threads)
            ensure_fits(needed, f"the {engine} engine on {adapter.layout.size} parameters "
                                f"with {threads} threads on this Dask worker")
            with thread_count(threads):
                engine = adapter.engine(engine, method, threads, j0)
                engine.block(np.zeros(0, dtype=np.int64), np.zeros(0))
            while len(_ENGINES) >= KEEP_ENGINES:
                _ENGINES.pop(next(iter(_ENGINES)))
            entry = _ENGINES[token] = (adapter, engine, threads, threading.Lock())
    return entry


def _block(payload, spec, token, pass_name, work):
    """One block of pass ``pass_name`` over ``work`` on a worker: (values, kinks,
    engine name, seconds of work).

    Pure: it depends on its arguments only (the engine is rebuilt from
    ``payload`` wherever it runs), so Dask may run it again after a worker dies.
    ``run_blocks`` checks the values and names an item whose cost raised.
    """
    adapter, engine, threads, lock = _engine(payload, spec, token)
    # Numba's threads already fill the worker's cores: BLAS threads would oversubscribe.
    blas = (single_threaded_blas() if engine.parallel and threads > 1
            else contextlib.nullcontext())
    with lock, thread_count(threads), blas:
        tick = time.perf_counter()
        out, kinks, _ = run_blocks(engine, PASSES[pass_name], work,
                                   describe=adapter.layout.describe, rows=threads,
                                   first=items(work))
        took = time.perf_counter() - tick
    return out, kinks, engine.name, took


def _forget(token):
    """Drop run ``token``'s engine from this worker (run on every worker at the end)."""
    with _ENGINES_LOCK:
        _ENGINES.pop(token, None)

"""The process-pool driver: a long Python check on every core of this machine.

A Python cost holds the GIL, so one process checks one coordinate at a time.
A check predicted to take more than ``POOL_SECONDS`` on the python engine (a
cost that does not compile, or ``jit=False``) starts a worker process per idle
core (``idle_cores()``) for the call (the standard library's ``ProcessPoolExecutor``,
started by ``spawn``: a fresh interpreter, never a fork of a process whose
threads may hold locks) unless ``workers=``, ``client=`` or ``threads=`` say
how to run. Each worker unpickles its own copy of the adapter once
(``shipping``: cloudpickle when installed, so a cost from a notebook goes by
value) and builds its python engine from it, BLAS on one thread as in the
calling process; blocks are pure, so the estimates are bit-identical to one
process's. Start-up (an interpreter importing NumPy and fastcheck per worker,
in parallel) costs about a second, which a check of a minute hides.
"""

import concurrent.futures
import contextlib
import math
import multiprocessing
import os
import signal
import time

import numpy as np

from ..engines.passes import PASSES, items, pass_record, take
from ..errors import CostError, FastcheckError
from ..runtime.blas import single_threaded_blas
from .blocks import TARGET_SECONDS, Estimates, run_blocks, seconds_per_item
from .progress import Bars
from .shipping import guard, pickled, unguarded_call, unpickled

#: A python-engine check predicted to take longer than this runs on the pool.
POOL_SECONDS = 60.0
#: At least this many blocks per worker, so that the last ones balance out.
BLOCKS_PER_WORKER = 4


def cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_cores():
    """The cores other processes leave idle: ``cores()`` less the 1-minute load
    average, which counts this process's own work as about 1."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not Unix
        return cores()
    return max(1, min(cores(), round(cores() - load + 1)))


def chosen(plan, *, client=None, workers=None, threads=None):
    """``(workers, note)``: how many worker processes run ``plan`` (0: none, run
    here) and the report's line about it (None: nothing to say).

    The pool runs a python-engine plan predicted (``seconds_per_coordinate``
    times its coordinates) to take more than ``POOL_SECONDS``, when no option
    says how to run it, this is the main process (a worker of the user's own
    pool runs its checks itself) and at least two cores are idle: on cores
    other processes keep busy, a second process of ours only takes turns (on
    the shared 2-core test machine at load 5, two processes checked at 0.7x
    the rate of one).
    """
    predicted = plan.seconds_per_coordinate * plan.idx.size
    if (plan.engine != "python" or predicted <= POOL_SECONDS or client is not None
            or workers is not None or threads is not None
            or multiprocessing.parent_process() is not None or cores() < 2):
        return 0, None
    script = unguarded_call()
    if script is not None:
        return 0, (f"ran in one process, not on this machine's {cores()} cores: the check "
                   f"was predicted to take {predicted:.0f} s, and to use every core "
                   f"{guard('the process pool')}")
    idle = idle_cores()
    if idle < 2:
        return 0, (f"ran in one process: the check was predicted to take {predicted:.0f} s, "
                   f"but other processes keep this machine's {cores()} cores busy (load "
                   f"average {os.getloadavg()[0]:.1f})")
    return idle, (f"ran on {idle} worker processes, one per idle core (predicted "
                  f"{predicted:.0f} s in one process); workers=, client= or threads= "
                  "choose otherwise")


def validate(client, workers, threads):
    """Every option fits (the pool is chosen by ``chosen``, never by an option)."""


@contextlib.contextmanager
def session(adapter, plan, *, client=None, workers=None, threads=None, progress=None,
            items=None):
    """The ``PoolDriver`` of ``workers`` processes (default ``cores()``) started
    for the body and stopped after it (the registry's entry point)."""
    with PoolDriver(adapter, plan, workers=workers or cores(), progress=progress) as run:
        yield run


class PoolDriver:
    """Runs a plan's python-engine passes on worker processes started for it.

    A context manager: entering pickles the adapter and starts the workers,
    each of which builds its engine from its own copy on its first block;
    ``run`` runs a pass in blocks of about ``TARGET_SECONDS``; leaving stops
    the workers (Ctrl-C: the blocks not started are cancelled, the running
    ones end within a block's time) and closes the progress bar.

    It reads from ``plan`` only ``layout``, ``engine``, ``method``, ``j0`` and
    ``seconds_per_coordinate``.
    """

    def __init__(self, adapter, plan, *, workers, progress=None):
        self.adapter, self.plan, self.workers, self.progress = adapter, plan, workers, progress

    def __enter__(self):
        payload = pickled(self.adapter, "the process pool's",
                          "run with workers= on Dask, or with threads=1")
        spec = (self.plan.engine, self.plan.method, self.plan.j0)
        self.pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(payload, spec))
        self.bars = Bars(self.progress, f"fastcheck {self.plan.engine} on {self.workers} "
                                        "worker processes")
        return self

    def __exit__(self, *exc):
        self.bars.close()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, pass_name, work, *, deadline=None):
        """Pass ``pass_name`` (of ``engines.passes.PASSES``) over ``work`` (its
        shape, as ``LocalDriver.run`` takes it), starting no block after
        ``deadline`` (perf_counter seconds); ``Estimates`` in the order of the
        work's items."""
        record = pass_record(pass_name)
        n = items(work)
        out, kinks = np.full((n,) + record.shape, np.nan), np.zeros(n, dtype=bool)
        done = np.zeros(n, dtype=bool)
        bar = self.bars.of(pass_name, record.work.unit)
        bar.expect(n)
        per_item = max(seconds_per_item(self.plan, record), 1e-9)
        size = max(1, min(int(TARGET_SECONDS / per_item),
                          math.ceil(n / (BLOCKS_PER_WORKER * self.workers))))
        starts = list(range(0, n, size))
        bounds = {self.pool.submit(_block, pass_name, take(work, a, b)): (a, b)
                  for a, b in zip(starts, starts[1:] + [n])}
        try:
            for future in concurrent.futures.as_completed(bounds):
                lo, hi = bounds[future]
                if not future.cancelled():
                    out[lo:hi], kinks[lo:hi] = _result(future, lambda: record.work.span(
                        work, lo, hi, self.plan.layout.describe))
                    done[lo:hi] = True
                    bar.advance(hi - lo)
                if deadline is not None and time.perf_counter() > deadline:
                    for pending in bounds:
                        pending.cancel()
        except BaseException:
            for pending in bounds:  # Ctrl-C or a cost that raised: run nothing more
                pending.cancel()
            raise
        return Estimates(out, kinks, done, self.plan.engine,
                         self.adapter.scratch_bytes(self.plan.engine, self.plan.method, 1))


def _result(future, span):
    """A finished block's (values, kink flags); its error raised as itself (the
    ``CostError`` naming the item), a dead worker as a ``CostError`` naming the
    block's items (``span()`` words them)."""
    try:
        return future.result()
    except FastcheckError as exc:  # raised in the worker: without the pool's traceback
        raise exc from None
    except concurrent.futures.process.BrokenProcessPool:
        raise CostError(
            f"a worker process died while it ran {span()}: a segfault in compiled code, "
            "os._exit, running out of memory, or a script that ran its check again when a "
            f"worker imported it ({guard('the process pool')})") from None


# -- in the workers ---------------------------------------------------------------------

#: In a worker: the payload and spec it was started with, then its (adapter, engine).
_STATE = {}


def _start(payload, spec):
    """A worker's initializer: keep what to build the engine from, and leave
    Ctrl-C to the calling process, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STATE["payload"], _STATE["spec"] = payload, spec


def _engine():
    """This worker's (adapter, engine), built on its first block from its own copy."""
    if "engine" not in _STATE:
        adapter = unpickled(_STATE.pop("payload"), "process pool")
        name, method, j0 = _STATE["spec"]
        _STATE["adapter"], _STATE["engine"] = adapter, adapter.engine(name, method, 1, j0)
    return _STATE["adapter"], _STATE["engine"]


def _block(pass_name, work):
    """One block of pass ``pass_name`` over ``work``: (values, kinks), BLAS on one
    thread as in the calling process. ``run_blocks`` names an item whose cost
    raised."""
    adapter, engine = _engine()
    with single_threaded_blas(compiled=False):
        out, kinks, _ = run_blocks(engine, PASSES[pass_name], work,
                                   describe=adapter.layout.describe, first=items(work))
    return out, kinks

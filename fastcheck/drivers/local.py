"""The local driver: runs an engine's passes here, on this machine's Numba threads,
a block at a time (``blocks.run_blocks``), moving to a faster engine between
blocks as soon as the adapter has one ready (a Python cost compiled beside
the check: ``costs.python.PythonCostAdapter.upgrade``)."""

import contextlib

import numpy as np

from ..engines.passes import items, pass_record
from ..runtime.blas import single_threaded_blas
from ..runtime.memory import ensure_fits, format_bytes
from .blocks import Estimates, first_block, run_blocks, seconds_per_item, thread_count
from .progress import Bars

#: A session expected to take less than this runs on one thread: on a busy
#: machine, joining a parallel region can cost milliseconds.
SERIAL_SECONDS = 1e-2


def validate(client, workers, threads):
    """Every option fits a local run (``threads`` is checked by ``validate_threads``)."""


def session(adapter, plan, *, client=None, workers=None, threads=None, progress=None,
            items=None):
    """The ``LocalDriver`` for a check's options (the registry's entry point)."""
    return LocalDriver(adapter, plan, threads=threads, progress=progress, items=items)


class LocalDriver:
    """Runs a plan's engine passes on this machine's Numba threads.

    A context manager: entering builds the engine once (its scratch checked
    against the memory budget first), ``run`` runs a pass of it in blocks, and
    leaving restores the thread count and closes the progress bar. ``threads``
    None means all of them, unless the first pass's ``items`` (when known) are
    expected, from the plan's ``seconds_per_coordinate``, to take less than
    ``SERIAL_SECONDS``.

    Between blocks it asks the adapter for a faster engine (``upgrade``) and
    builds it (its scratch checked first). A compile still running beside the
    check goes on to the call's next plan (locate's confirmation); the call
    stops it when it ends (``check.held``).

    It reads from ``plan`` only ``layout``, ``engine``, ``method``, ``j0`` and
    ``seconds_per_coordinate``.
    """

    def __init__(self, adapter, plan, *, threads=None, progress=None, items=None):
        self.adapter, self.plan, self.threads = adapter, plan, threads
        self.progress, self.items = progress, items
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        plan, threads = self.plan, self.threads
        if threads is None and self.items is not None \
                and plan.seconds_per_coordinate * self.items < SERIAL_SECONDS:
            threads = 1  # waking a second thread would cost more than it saves
        with contextlib.ExitStack() as stack:
            self.numba_threads = count = stack.enter_context(thread_count(threads))
            self.needed = self.adapter.scratch_bytes(plan.engine, plan.method, count)
            ensure_fits(self.needed, f"the {plan.engine} engine on {plan.layout.size} "
                                     f"parameters with {count} threads")
            self.engine = self.adapter.engine(plan.engine, plan.method, count, plan.j0)
            if self.engine.parallel and count > 1:
                # Numba's threads already fill the cores: BLAS threads would oversubscribe.
                stack.enter_context(single_threaded_blas())
            self.bars = Bars(self.progress, f"fastcheck {self.engine.name} (scratch "
                                            f"{format_bytes(self.needed)})")
            stack.callback(self.bars.close)
            self._stack = stack.pop_all()
        return self

    def _switches(self, predicted):
        """``_switch`` for one pass: ``run_blocks`` asks before the first block with
        ``remaining`` 0 (nothing measured yet), which becomes the pass's
        ``predicted`` seconds in Python: a compile that ended just before a short
        pass (the closer look) is not loaded for it."""
        first = [True]

        def switch(remaining):
            if first[0]:
                first[0], remaining = False, max(remaining, predicted)
            return self._switch(remaining)
        return switch

    def _switch(self, remaining):
        """The faster engine the adapter has ready now, built; else None.
        ``remaining``: the pass's seconds left on the current engine."""
        name = self.adapter.upgrade(self.plan.method, remaining)
        if name is None or name == self.engine.name:
            return None
        plan, count = self.plan, self.numba_threads
        needed = self.adapter.scratch_bytes(name, plan.method, count)
        ensure_fits(needed, f"the {name} engine on {plan.layout.size} parameters with "
                            f"{count} threads")
        engine = self.adapter.engine(name, plan.method, count, plan.j0)
        if engine.parallel and count > 1 and not self.engine.parallel:
            self._stack.enter_context(single_threaded_blas())
        self.engine, self.needed = engine, max(self.needed, needed)
        return engine

    def __exit__(self, *exc):
        return self._stack.__exit__(*exc)

    def run(self, pass_name, work, *, deadline=None):
        """Pass ``pass_name`` (of ``engines.passes.PASSES``) over ``work`` (its
        shape: (idx (n,), h (n,)) for coordinates, (subsets, deltas) for
        directions), starting no block after ``deadline`` (perf_counter
        seconds). Returns ``Estimates``."""
        record = pass_record(pass_name)
        count = self.numba_threads
        bar = self.bars.of(pass_name, record.work.unit)
        bar.expect(items(work))
        tally = {}
        per_item = seconds_per_item(self.plan, record)
        out, kinks, done = run_blocks(
            self.engine, record, work, describe=self.plan.layout.describe, rows=count,
            first=first_block(per_item, count), deadline=deadline,
            progress=bar, switch=self._switches(items(work) * per_item), tally=tally)
        return Estimates(out, kinks, np.arange(items(work)) < done, self.engine.name,
                         self.needed, tally, self.adapter.compile_beside(),
                         tuple(self.adapter.beside_notes) +
                         self.engine.late_notes())

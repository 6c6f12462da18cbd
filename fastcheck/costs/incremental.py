"""When a compiled Python cost runs on the incremental engine (``engines.incremental``).

The engine needs the cost's traced record, whichever compiler compiled it: the
cost is traced here (one run of it in Python on recorded arrays), and the
record's value at theta must equal the compiled cost's. ``engine="incremental"``
asks for it; ``engine="auto"`` takes it for a compiled cost of at least
``AUTO_MIN_PARAMS`` parameters whose record, per perturbed coordinate, computes
at least ``AUTO_RATIO`` times fewer values than a whole evaluation (counted on
the probe batch: the engine runs in NumPy, so it pays only where it skips most
of the work). Anything else runs on the generic engine, with a note saying why
when the incremental engine was asked for.
"""

from math import prod

import numpy as np

from ..engines import GenericEngine
from ..engines.incremental import IncrementalEngine, Traced, probe_all
from ..planning.methods import method_record
from ..runtime.blas import single_threaded_blas
from ..runtime.memory import HEADROOM, available_bytes, format_bytes
from .base import EngineChoice

#: ``engine="auto"`` considers the incremental engine from this many parameters.
AUTO_MIN_PARAMS = 20000
#: ... and takes it when a whole evaluation computes this many times more values
#: than the engine's work per perturbed coordinate. Measured (load 6-8): an MLP
#: [784, 64, 10] counts 1252 and ran 19x faster than the generic engine, an
#: im2col CNN 47 and 9.7x, an RNN 40 and 1.4x (its change is dense after a step).
AUTO_RATIO = 20.0


class Prepared:
    """The traced record, the tensors the probe refused (node -> reason) and the
    notes, kept by the adapter between ``resolve_engine`` and ``build``."""

    def __init__(self, traced, refused, notes, method):
        self.traced, self.refused, self.notes, self.method = traced, refused, notes, method


def _record(adapter):
    """(record, output node) of the adapter's cost, or the reason there is none."""
    from ..compiler.trace import trace
    from ..compiler.tracefuncs import FUNCTIONS
    from ..errors import CompileError
    layout = adapter.layout
    names, shapes = ((["theta"], [(adapter.theta.size,)]) if adapter.flat
                     else (list(layout.names), [tuple(s) for s in layout.shapes]))
    try:
        rec, output = trace(adapter.func, names, shapes, adapter.theta, adapter.args,
                            adapter.flat, FUNCTIONS)
    except CompileError as exc:
        return None, f"tracing the cost was refused ({str(exc)[:200]})"
    except Exception as exc:  # the cost raised on recorded arrays
        return None, f"tracing the cost raised {type(exc).__name__}: {str(exc)[:200]}"
    if rec.lowp or rec.single:
        return None, "the cost computes in float32 somewhere; the engine evaluates in float64 only"
    return (rec, output), None


def generic_work(rec, live):
    """Values a whole evaluation of the record computes (a product's multiply-adds)."""
    total = 0
    for k in live:
        op = rec.ops[k]
        if op.kind in ("matmul", "bmatmul"):
            a = rec.ops[op.args[0]].shape
            total += prod(op.shape) * (a[-1] if a else 1)
        elif op.kind not in ("param", "const"):
            total += prod(op.shape)
    return total


def choose(adapter, choice, method, forced, threads=2):
    """The ``EngineChoice`` for a check whose cost compiled (``choice``: generic):
    incremental when it can run (and, unless ``forced``, pays), else ``choice``
    with the reason among its notes when the engine was asked for."""
    method = method_record(method)

    def generic(reason):
        note = (f"the incremental engine cannot check this cost: {reason}; "
                "ran on the generic engine",) if forced else ()
        return EngineChoice(choice.name, choice.notes + note, choice.compile_seconds)

    if method.complex_step or method.stencil.kind != "differences":
        return generic(f"it runs difference stencils, not method {method.name!r}")
    if not forced and adapter.layout.size < AUTO_MIN_PARAMS:
        return choice
    cc = adapter.compiled.get(False)
    if cc is None or cc.lowp:
        return generic("the compiled cost computes in float32")
    got, reason = _record(adapter)
    if got is None:
        return generic(reason)
    rec, output = got
    needed = Traced.scratch_bytes(rec, output, threads)
    if needed > HEADROOM * available_bytes():
        return generic(f"its cached values and batches need about {format_bytes(needed)}, "
                       f"more than the memory available")
    traced = Traced(rec, output, adapter.theta)
    j0 = float(cc.function(adapter.theta, cc.fdata, cc.idata))
    if not abs(traced.j0 - j0) <= 1e-9 * max(1.0, abs(j0)):
        return generic(f"its record gives {traced.j0!r} at theta where the compiled cost "
                       f"gives {j0!r}")
    probe = GenericEngine(cc.function, cc.fdata, cc.idata, adapter.theta, 1, method)
    # The compiled cost's products call SciPy's BLAS: on one thread, as in the check
    # (two threads of a loaded machine made the probe's dozen evaluations 0.4 s).
    with single_threaded_blas():
        refused, notes, work = probe_all(traced, probe, adapter.theta, adapter.layout, method)
    if len(refused) == len(traced.params):
        return generic("; ".join(refused.values()) or "no tensor")
    if not forced:
        whole = generic_work(rec, traced.live)
        if work <= 0 or whole / work < AUTO_RATIO:
            return choice
    adapter.incremental = Prepared(traced, refused, tuple(notes), method.name)
    return EngineChoice("incremental", choice.notes + tuple(notes), choice.compile_seconds)


def build(adapter, method, threads):
    """The ``IncrementalEngine`` ``choose`` prepared, over a generic engine with
    ``threads`` threads for what it hands on."""
    prepared = adapter.incremental or _prepared_here(adapter, method)
    cc = adapter.compiled[False]
    generic = GenericEngine(cc.function, cc.fdata, cc.idata, adapter.theta, threads, method)
    return IncrementalEngine(prepared.traced, generic, adapter.theta, adapter.layout, method,
                             refused=prepared.refused, threads=threads)


def scratch_bytes(adapter, method, threads):
    """The generic engine's scratch (it serves the refused tensors) and the engine's own."""
    prepared = adapter.incremental or _prepared_here(adapter, method)
    own = Traced.scratch_bytes(prepared.traced.rec, prepared.traced.output, threads)
    return GenericEngine.scratch_bytes(adapter.layout.size, threads, method) + own


def _prepared_here(adapter, method):
    """``Prepared`` in a process that got the adapter without it (a Dask worker):
    compiled (from the cache) and traced again here; ``CompileError`` if the cost
    no longer runs on the engine."""
    from ..errors import CompileError
    adapter.compile(False)
    choice = choose(adapter, EngineChoice("generic", (), 0.0), method, forced=True)
    if choice.name != "incremental":
        raise CompileError("; ".join(choice.notes))
    return adapter.incremental

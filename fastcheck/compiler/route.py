"""Which compiler compiles a Python cost: from source first, by tracing second.

The source compiler handles plain functions, helpers and loops; code built
from objects (layer classes, a model holding a list of them, parameters kept
as module globals) it rightly refuses, and tracing compiles that instead.
Source first: it compiles loops into loops, where a trace of loop-heavy code
would unroll them into ``trace.MAX_OPS`` operations before giving up, and a
refusal is remembered per function and arguments' kinds, so a model of objects
pays for it once per process.

A traced record is trusted only after its compiled value equals the Python
cost's at theta and at four perturbed points (both signs, along two
directions that each move a different half of the tensors): a record frozen
on a branch the escapes did not see would differ there.
"""

import os
import re
import traceback
import weakref

import numpy as np

from ..errors import CompileError
from .trace import trace
from .tracefuncs import FUNCTIONS
from .tracegen import compile_record

#: The source compiler's refusal of a cost function, by the function: a model of
#: objects is refused at every check (a second or two of Numba typing), and is
#: traced anyway.
_SOURCE_REFUSED = weakref.WeakKeyDictionary()
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Relative step of the perturbed points, times (|theta_i| + 0.1).
PROBE_STEP = 1e-3
#: Relative agreement asked of a record that computes in float64 what the
#: Python cost computes in float32 (float32 rounding, not a different cost).
LOWP_RTOL = 1e-4


def compile_routed(adapter, complex_step, route="auto"):
    """The adapter's cost compiled by the route asked: ``"auto"`` tries the source
    compiler, then tracing; ``"trace"`` traces only. Adds a note when tracing
    compiled it; raises ``CompileError`` with both reasons when neither could."""
    if route == "trace":
        cc = compile_traced(adapter, complex_step)
        adapter.notes.append(_traced_note(cc, None))
        return cc
    from .build import compile_cost
    try:
        refused = _SOURCE_REFUSED.get(adapter.func, {}).get(_kinds(adapter))
        if refused is not None and not complex_step:
            raise CompileError(refused)
        return compile_cost(adapter.func, adapter.layout.names, adapter.layout.shapes,
                            adapter.args, flat=adapter.flat, complex_step=complex_step)
    except CompileError as source_error:
        if complex_step:  # a record is real: its message would only add noise
            raise
        _remember_refusal(adapter, source_error)
        try:
            cc = compile_traced(adapter, complex_step)
        except CompileError as trace_error:
            error = CompileError(f"{source_error}; and tracing it: {trace_error}")
            error.detail = getattr(trace_error, "detail", None) or getattr(source_error, "detail",
                                                                           None)
            raise error from None  # both messages say what to know; the chain is machinery
        adapter.notes.append(_traced_note(cc, source_error))
        return cc


def _kinds(adapter):
    """What a source refusal can depend on besides the function: layout and arguments."""
    return (tuple(adapter.layout.names), tuple(map(tuple, adapter.layout.shapes)),
            adapter.flat, tuple((type(a).__name__, np.ndim(a)) for a in adapter.args))


def _remember_refusal(adapter, error):
    try:
        _SOURCE_REFUSED.setdefault(adapter.func, {})[_kinds(adapter)] = str(error)
    except TypeError:  # not weakly referenceable: ask the source compiler again next time
        pass


def _traced_note(cc, source_error):
    note = f"compiled by tracing: a record of {cc.operations} NumPy operations"
    if source_error is None:
        return note
    why = _ANSI.sub("", str(source_error)).strip().splitlines()[0]
    return f"{note} (the source compiler refused it: {why[:200]})"


def compile_traced(adapter, complex_step):
    """Trace the adapter's cost at its theta, compile the record, verify it."""
    if complex_step:
        raise CompileError("a traced cost compiles for real parameters only; "
                           "method='complex' runs it in Python")
    func = adapter.func
    names, shapes = adapter.layout.names, adapter.layout.shapes
    if adapter.flat:
        names, shapes = ["theta"], [(adapter.layout.size,)]
    try:
        rec, output = trace(func, names, shapes, adapter.theta, adapter.args, adapter.flat,
                            FUNCTIONS)
    except CompileError:
        raise
    except Exception as exc:
        raise CompileError(f"{_raised_at(exc)}: tracing the cost raised "
                           f"{type(exc).__name__}: {exc}") from exc
    code = getattr(getattr(func, "py_func", func), "__code__", None)
    qualname = getattr(func, "__qualname__", type(func).__name__)
    filename = code.co_filename if code is not None else "?"
    cc = compile_record(rec, output, qualname, filename)
    _verify(adapter, cc, rec.lowp)
    if rec.lowp:
        adapter.notes.append("the traced cost computes in float64 where the Python cost "
                             "computes in float32")
    return cc


def _raised_at(exc):
    """``file.py:12`` of the innermost frame of ``exc`` outside fastcheck and NumPy."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.dirname(os.path.realpath(__file__))
    numpy_dir = os.path.dirname(os.path.realpath(np.__file__))
    for frame in reversed(frames):
        path = os.path.realpath(frame.filename)
        if not path.startswith((here + os.sep, numpy_dir + os.sep)):
            return f'{os.path.basename(path)}:{frame.lineno}: "{(frame.line or "").strip()}"'
    return "the cost"


def _points(adapter):
    """theta and the perturbed points the record must agree at."""
    theta = adapter.theta
    rng = np.random.default_rng(0)
    step = PROBE_STEP * (np.abs(theta) + 0.1) * rng.standard_normal(theta.size)
    yield "at the given parameters", theta
    owners = np.repeat(np.arange(len(adapter.layout.names)),
                       [int(np.prod(s)) for s in adapter.layout.shapes])
    for half in (0, 1):
        moved = np.where(owners % 2 == half, step, 0.0) if len(adapter.layout.names) > 1 \
            else step * (1 + half)
        for sign in (1, -1):
            yield "at a perturbed point", theta + sign * moved


def _verify(adapter, cc, lowp):
    from ..costs.python import TRUST_RTOL
    rtol = LOWP_RTOL if lowp else TRUST_RTOL
    for where, point in _points(adapter):
        point = np.ascontiguousarray(point)
        compiled = cc.function(point.copy(), cc.fdata, cc.idata)
        expected = adapter.evaluate(point, where)
        if not abs(compiled - expected) <= rtol * max(1.0, abs(expected)):
            raise CompileError(f"the traced record gives {compiled!r} {where} where the "
                               f"Python cost gives {expected!r}: the cost's Python control "
                               "flow or its random draws depend on the parameters, so the "
                               "record is not the cost")

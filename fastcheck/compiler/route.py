"""Which compiler compiles a Python cost: from source first, by tracing second.

The source compiler handles plain functions, helpers and loops; code built
from objects (layer classes, a model holding a list of them, parameters kept
as module globals) it rightly refuses, and tracing compiles that instead.
Source first: it compiles loops into loops, where a trace of loop-heavy code
would unroll them into ``trace.MAX_OPS`` operations before giving up, and a
refusal is remembered per function and arguments' kinds, so a model of objects
pays for it once per process.

Whichever compiled it, the cost is trusted only after its compiled value
equals the Python cost's at theta, and a traced record's at four perturbed
points too (``trust``). The notes come back as values, with the compiled cost.
"""

import os
import time
import traceback
import weakref
from typing import NamedTuple

import numpy as np

from ..errors import CompileError, source_place
from . import diagnose, trust
from .build import compile_cost
from .trace import trace
from .tracefuncs import FUNCTIONS
from .tracegen import compile_record

#: The source compiler's refusal of a cost function, by the function: a model of
#: objects is refused at every check (a second or two of Numba typing), and is
#: traced anyway.
_SOURCE_REFUSED = weakref.WeakKeyDictionary()


class Compiled(NamedTuple):
    """A compiled cost the compiler trusts: ``cost`` (a ``CompiledCost``), the
    report's lines about how it was compiled (``notes``), and the ``seconds``
    compiling it took (loading it from a cache included)."""

    cost: object
    notes: tuple
    seconds: float


def compile_routed(func, names, shapes, theta, args, *, flat, complex_step, evaluate,
                   route="auto"):
    """``func`` compiled by the route asked, and checked against the Python cost.

    ``names``, ``shapes`` are the parameter tensors in theta's order, ``theta``
    (P,) float64 the point checked, ``args`` the user's extra arguments,
    ``flat`` True for a cost over theta itself; ``evaluate(theta, where)`` is
    the Python cost, which the compiled one must equal (``trust``).
    ``route`` "auto" tries the source compiler, then tracing; "trace"
    traces only.

    Returns ``Compiled``, whose notes say when tracing compiled it. Raises
    ``CompileError`` with both reasons when neither compiler could, and
    ``trust.Untrusted`` (with the notes and seconds of the compile) when the
    compiled cost differs from the Python cost at theta.
    """
    tick = time.perf_counter()
    values = func, names, shapes, theta, args, flat, evaluate
    if route == "trace":
        if complex_step:
            raise CompileError("a traced cost compiles for real parameters only; "
                               "method='complex' runs it in Python")
        cc = compile_traced(*values)
        notes = _traced_notes(cc, None)
    else:
        cc, notes = _source_then_traced(values, complex_step)
    seconds = time.perf_counter() - tick
    # A record was compared at theta already, to TRUST_RTOL unless the Python cost
    # computes in float32.
    if cc.variant != "trace" or cc.lowp:
        problem = trust.mismatch(cc, theta.astype(np.complex128) if complex_step else theta,
                                 evaluate)
        if problem is not None:
            raise trust.Untrusted(problem, notes, seconds)
    return Compiled(cc, notes, seconds)


def _source_then_traced(values, complex_step):
    """``(cc, notes)`` of the "auto" route: ``compile_cost``, else ``compile_traced``
    of ``values`` (``compile_traced``'s arguments)."""
    func, names, shapes, _, args, flat, _ = values
    kinds = _kinds(names, shapes, flat, args)
    try:
        refused = _SOURCE_REFUSED.get(func, {}).get(kinds)
        if refused is not None and not complex_step:
            raise CompileError(refused)
        cc = compile_cost(func, names, shapes, args, flat=flat, complex_step=complex_step)
        return cc, tuple(cc.notes)
    except CompileError as source_error:
        if complex_step:  # a record is real: its message would only add noise
            raise
        _remember_refusal(func, kinds, source_error)
        try:
            cc = compile_traced(*values)
        except CompileError as trace_error:
            error = CompileError(f"{source_error}; and tracing it: {trace_error}")
            error.detail = (getattr(trace_error, "detail", None)
                            or getattr(source_error, "detail", None))
            raise error from None  # both messages say what to know; the chain is machinery
        return cc, _traced_notes(cc, source_error)


def _kinds(names, shapes, flat, args):
    """What a source refusal can depend on besides the function: layout and arguments."""
    return (tuple(names), tuple(map(tuple, shapes)), flat,
            tuple((type(a).__name__, np.ndim(a)) for a in args))


def _remember_refusal(func, kinds, error):
    try:
        _SOURCE_REFUSED.setdefault(func, {})[kinds] = str(error)
    except TypeError:  # not weakly referenceable: ask the source compiler again next time
        pass


def _traced_notes(cc, source_error):
    note = f"compiled by tracing: a record of {cc.operations} NumPy operations"
    if source_error is not None:
        note += f" (the source compiler refused it: {diagnose.first_line(source_error)[:200]})"
    lowp = ("the traced cost computes in float64 where the Python cost computes in "
            "float32",) if cc.lowp else ()
    return lowp + (note,)


def compile_traced(func, names, shapes, theta, args, flat, evaluate):
    """Trace ``func`` at ``theta`` (P,), compile the record and verify it against
    ``evaluate`` at theta and the perturbed points (``trust.verify_record``).

    The arguments are ``compile_routed``'s. Returns the ``CompiledCost``.
    """
    traced_names, traced_shapes = (["theta"], [(theta.size,)]) if flat else (names, shapes)
    try:
        rec, output = trace(func, traced_names, traced_shapes, theta, args, flat, FUNCTIONS)
    except CompileError:
        raise
    except Exception as exc:
        raise CompileError(f"{_raised_at(exc)}: tracing the cost raised "
                           f"{type(exc).__name__}: {exc}") from exc
    code = getattr(getattr(func, "py_func", func), "__code__", None)
    qualname = getattr(func, "__qualname__", type(func).__name__)
    filename = code.co_filename if code is not None else "?"
    cc = compile_record(rec, output, qualname, filename)
    trust.verify_record(cc, theta, shapes, evaluate)
    return cc


def _raised_at(exc):
    """``file.py:12`` of the innermost frame of ``exc`` outside fastcheck and NumPy."""
    frames = traceback.extract_tb(exc.__traceback__)
    here = os.path.dirname(os.path.realpath(__file__))
    numpy_dir = os.path.dirname(os.path.realpath(np.__file__))
    for frame in reversed(frames):
        path = os.path.realpath(frame.filename)
        if not path.startswith((here + os.sep, numpy_dir + os.sep)):
            return (f'{source_place(frame.filename, frame.lineno)}: '
                    f'"{(frame.line or "").strip()}"')
    return "the cost"

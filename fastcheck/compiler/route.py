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

import dataclasses
import os
import time
import traceback
import weakref
from typing import NamedTuple

import numpy as np

from ..errors import CompileError, source_place
from . import diagnose, memo, tracediff, trust
from .build import compiling_cost
from .generated import run
from .trace import trace
from .tracefuncs import FUNCTIONS
from .tracegen import compiling_record

#: The source compiler's refusal of a cost function, by the function: a model of
#: objects is refused at every check (a second or two of Numba typing), and is
#: traced anyway.
_SOURCE_REFUSED = weakref.WeakKeyDictionary()
#: The record a cost function traced to, by the function and what it was traced
#: with (``_kinds``): a cost checked again is verified against the Python cost
#: at the trust points instead of traced again (``_remembered_record``).
_TRACED = weakref.WeakKeyDictionary()


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
    return run(routing(func, names, shapes, theta, args, flat=flat, complex_step=complex_step,
                       evaluate=evaluate, route=route))


def routing(func, names, shapes, theta, args, *, flat, complex_step, evaluate, route="auto"):
    """``compile_routed`` as a generator of compile steps: it yields a
    ``generated.Task`` whenever a child must compile and is resumed once that
    child has exited (``Pending`` runs it beside a check; ``generated.run`` waits).
    Everything that calls the user's Python cost (tracing, the trust test) runs
    in the caller's thread between those steps."""
    tick = time.perf_counter()
    values = func, names, shapes, theta, args, flat, evaluate
    if route == "trace":
        if complex_step:
            raise CompileError("a traced cost compiles for real parameters only; "
                               "method='complex' runs it in Python")
        cc = yield from compiling_traced(*values)
        notes = _traced_notes(cc, None)
    else:
        cc, notes = yield from _source_then_traced(values, complex_step)
    seconds = time.perf_counter() - tick
    # A record was compared at theta already, to TRUST_RTOL unless the Python cost
    # computes in float32.
    if cc.variant != "trace" or cc.lowp:
        problem = trust.mismatch(cc, theta.astype(np.complex128) if complex_step else theta,
                                 evaluate)
        if problem is not None:
            raise trust.Untrusted(problem, notes, seconds)
    return Compiled(cc, notes, seconds)


class Pending:
    """A compile (``routing``'s steps) running beside a check.

    ``poll()`` advances it without waiting: it starts the child a step asks
    for (at low priority: ``budget.BACKGROUND_NICE``, or ``budget.IDLE``), and
    once that child has exited runs the next step here (loading the compiled
    cost, tracing, the trust test: the user's Python runs in this thread only;
    so does a compile no child can take, ``generated.Task.here``, and the check
    waits for that one at the poll after its first block). It returns the
    ``Compiled`` once the cost is compiled and trusted, else None; ``error``
    holds the ``CompileError`` that ended it. ``waiting()`` says whether a
    child is still compiling, ``cancel()`` stops it. ``seconds`` is the wall
    time from the start to the end (or to now).
    """

    def __init__(self, steps):
        self._steps, self._task = steps, None
        self.compiled, self.error = None, None
        self.started, self.ended = time.perf_counter(), None
        self.polled = False  # True once ``poll`` has run: its child started
        self.idle_since = None  # see ``waiting``
        self._advance()

    @property
    def finished(self):
        return self.ended is not None

    @property
    def seconds(self):
        return (self.ended or time.perf_counter()) - self.started

    def _advance(self):
        try:
            self._task = next(self._steps) if self._task is None else self._steps.send(None)
        except StopIteration as stop:
            self.compiled, self._task = stop.value, None
            self.ended = time.perf_counter()
        except CompileError as exc:
            self.error, self._task = exc, None
            self.ended = time.perf_counter()

    def poll(self, background=True):
        """Advance without waiting; the ``Compiled`` once ready, else None. A child
        started here runs at the priority ``background`` says (``budget.start``)."""
        self.polled = True
        while not self.finished:
            child = self._task.start(background=background)
            if child is not None and not child.done():
                return None
            self._advance()
        return self.compiled

    def wait(self):
        """Advance to the end, waiting: the ``Compiled``, or its ``CompileError``."""
        while not self.finished:
            self._task.start()
            self._advance()
        if self.error is not None:
            raise self.error
        return self.compiled

    def waiting(self):
        """True while a child ``poll`` started is still compiling: the next poll
        would return at once, running nothing in this process. Once it is not,
        ``idle_since`` is when that was first seen."""
        task = self._task
        if task is not None and task.child is not None and not task.child.done():
            return True
        if self.idle_since is None:
            self.idle_since = time.perf_counter()
        return False

    def cancel(self):
        """Stop a child still compiling, and the steps."""
        if self._task is not None and self._task.child is not None:
            self._task.child.kill()
        self._steps.close()
        self._task = None
        if self.ended is None:
            self.ended = time.perf_counter()


def _source_then_traced(values, complex_step):
    """``(cc, notes)`` of the "auto" route: ``compiling_cost``, else
    ``compiling_traced`` of ``values`` (``compile_traced``'s arguments)."""
    func, names, shapes, _, args, flat, _ = values
    kinds = _kinds(names, shapes, flat, args)
    try:
        refused = _SOURCE_REFUSED.get(func, {}).get(kinds)
        if refused is not None and not complex_step:
            raise CompileError(refused)
        cc = yield from compiling_cost(func, names, shapes, args, flat=flat,
                                       complex_step=complex_step)
        return cc, tuple(cc.notes)
    except CompileError as source_error:
        if complex_step:  # a record is real: its message would only add noise
            raise
        _remember_refusal(func, kinds, source_error)
        try:
            cc = yield from compiling_traced(*values)
        except CompileError as trace_error:
            error = CompileError(f"{source_error}; and tracing it: {trace_error}")
            error.detail = (getattr(trace_error, "detail", None)
                            or getattr(source_error, "detail", None) or str(error))
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
    lowp = ("the traced cost computes in float32 where the Python cost does (each float32 "
            "value rounded as NumPy rounds it); it is trusted to float32 rounding",) \
        if cc.lowp else ()
    return lowp + (note,)


def compile_traced(func, names, shapes, theta, args, flat, evaluate):
    """Trace ``func`` at ``theta`` (P,), compile the record and verify it against
    ``evaluate`` at theta and the perturbed points (``trust.verify_record``).

    The arguments are ``compile_routed``'s. Returns the ``CompiledCost``.
    """
    return run(compiling_traced(func, names, shapes, theta, args, flat, evaluate))


def compiling_traced(func, names, shapes, theta, args, flat, evaluate):
    """``compile_traced`` as a generator of compile steps.

    A function traced before in this process with the same layout and kinds of
    arguments is not traced again: its record's compiled cost, still in memory,
    is verified at the trust points, which a changed record (other data, another
    constant, another branch) fails; only then is it traced again.
    """
    kinds = _kinds(names, shapes, flat, args) + (tuple(np.shape(a) for a in args),)
    cc = _remembered_record(func, kinds, theta, shapes, evaluate)
    if cc is not None:
        return cc
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
    cc = yield from compiling_record(rec, output, qualname, filename)
    try:
        trust.verify_record(cc, theta, shapes, evaluate)
    except trust.RecordDiffers as differs:  # say where the record and the cost part
        finding = tracediff.explain(func, traced_names, traced_shapes, theta, differs.point,
                                    args, flat, rec, output, cc.lowp)
        message = tracediff.with_moved(str(differs), names, shapes, theta, differs.point)
        raise CompileError(f"{message}: {finding}" if finding else
                           f"{message}; the tracer could not tell where") from None
    try:
        _TRACED.setdefault(func, {})[kinds] = cc
    except TypeError:  # not weakly referenceable: traced again next time
        pass
    return cc


def _remembered_record(func, kinds, theta, shapes, evaluate):
    """The compiled record ``func`` traced to with ``kinds``, if it is still in
    memory and still equals the Python cost at the trust points; else None."""
    try:
        cc = _TRACED.get(func, {}).get(kinds)
    except TypeError:
        return None
    if cc is None or not memo.holds(cc.key):
        return None
    try:
        trust.verify_record(cc, theta, shapes, evaluate)
    except CompileError:
        return None
    return dataclasses.replace(cc, seconds=0.0, cached=True)


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

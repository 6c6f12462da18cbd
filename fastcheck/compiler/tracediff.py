"""Why a traced record is not the cost: the first operation where they part.

The trust test (``trust.verify_record``) finds that a record's value differs
from the Python cost's at some point; it cannot see why. Here the cost is
traced again, at that point and once more at theta, and the records are
compared operation by operation (each remembers the user's line that recorded
it, ``Record.places``):

- two traces at theta that differ: the cost is not one function from call to
  call (random draws without a fixed seed);
- operations that differ at the point: the cost's Python control flow depends
  on the parameters there (a branch, a loop's length, an index taken as int);
- the same operations reading different data: a value NumPy computed with no
  recorded operand changes with the parameters, frozen by the record at theta
  (an array holding the parameters read through a name the tracer does not
  follow);
- the same operations and data: the record run as Python at the point, against
  the values the cost computed there, names the first operation that differs.

Each says the user's file and line; none guesses a cause it did not find.
"""

import numpy as np

from . import traceops
from .trace import Lit, TraceEscape, trace
from .tracefuncs import FUNCTIONS
from .tracegen import describe, generate, live_nodes


def explain(func, names, shapes, theta, point, args, flat, first, output, lowp):
    """The finding (a sentence) for ``first``, the record of ``func`` at ``theta``
    whose ``output`` node differs from the cost at ``point``; "" if none is found.
    ``names``/``shapes``/``args``/``flat`` are those ``first`` was traced with.
    Leaves the user's objects as a trace at theta leaves them."""
    try:
        try:
            there = trace(func, names, shapes, point, args, flat, FUNCTIONS, keep=True)[0]
        finally:
            again = trace(func, names, shapes, theta, args, flat, FUNCTIONS)[0]
    except TraceEscape as exc:
        return f"traced at that point, the cost is refused: {exc}"
    except Exception:  # noqa: BLE001  (the cost raising away from theta: say nothing)
        return ""
    live = set(live_nodes(first, output))
    k, how = first_difference(first, again, live)
    if k is not None:
        return (f"two runs of the cost at the same parameters record different {how} "
                f"from {first.where(k) or 'the cost'} on: the cost is not the same "
                "function from one call to the next (random draws without a fixed seed?)")
    k, how = first_difference(first, there, live)
    if how == "operations":
        return (f"at that point the cost performs other operations from "
                f"{there.where(k) or 'the cost'} on (at theta: {first.where(k) or 'the end'}): "
                "its Python control flow depends on the parameters there")
    if k is not None:
        return (f"{first.where(k) or 'the cost'}: the {how} this line reads change with the "
                "parameters, but NumPy computed them (on this line or before it) with no "
                "recorded operand, so the record froze them at theta (an array holding the "
                "parameters read through a name the tracer does not follow, such as a "
                "local name bound before the store into it: read it through the object "
                "stored into)")
    k = first_wrong_value(first, output, there, point, 1e-4 if lowp else 1e-9)
    if k is None:
        return ""
    return (f"{first.where(k) or 'the cost'}: the record's {describe(first.ops[k])} computes "
            "another value than NumPy's at that point, with the same operations and data "
            "(a fastcheck bug: please report it with this cost)")


def with_moved(message, names, shapes, theta, point):
    """``message`` (ending in a parenthesis) saying which tensors ``point`` moves from
    ``theta``, and by how much at most."""
    said = moved(names, shapes, theta, point)
    if not said:
        return message
    return f"{message[:-1]}; {said})" if message.endswith(")") else f"{message} ({said})"


def moved(names, shapes, theta, point):
    """``the point moves W, b by at most 0.03``: which tensors a trust point moves."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    step = np.abs(np.asarray(point) - theta)
    parts = np.split(step, np.cumsum(sizes)[:-1]) if sizes else []
    which = [name for name, part in zip(names, parts) if part.size and part.max() > 0]
    if not which:
        return ""
    shown = ", ".join(which[:6]) + (f" and {len(which) - 6} more" if len(which) > 6 else "")
    return f"the point moves {shown} by at most {step.max():.2g}"


def first_difference(a, b, live):
    """``(k, what)``: the first node where records ``a`` and ``b`` differ, ``what``
    "operations" (another operation, shape or operand) or "data"/"numbers" (a
    constant array or scalar read by a node of ``live``, those ``a``'s value
    depends on: the old contents of an array every element of which is stored
    over are no cause); ``(None, None)`` if they are the same."""
    for k in range(min(len(a.ops), len(b.ops))):
        x, y = a.ops[k], b.ops[k]
        if (x.kind, x.attrs, x.shape, x.dtype, len(x.args)) != \
                (y.kind, y.attrs, y.shape, y.dtype, len(y.args)) and x.kind != "const":
            return k, "operations"
        if x.kind == "const":
            cx, cy = a.consts[x.attrs[0]], b.consts[y.attrs[0]]
            if y.kind != "const" or cx.shape != cy.shape:
                return k, "operations"
            if k in live and not np.array_equal(cx, cy, equal_nan=cx.dtype.kind == "f"):
                return k, "data"
            continue
        for u, v in zip(x.args, y.args):
            if isinstance(u, Lit) != isinstance(v, Lit) or (not isinstance(u, Lit) and u != v):
                return k, "operations"
            if isinstance(u, Lit) and u != v and k in live:
                return k, "numbers"
    if len(a.ops) != len(b.ops):
        return min(len(a.ops), len(b.ops)), "operations"
    return None, None


def first_wrong_value(rec, output, there, point, rtol):
    """The first node whose value, the record ``rec`` run as Python at ``point``,
    differs from the value NumPy computed there (``there.values``); or None."""
    source, fdata, idata, _ = generate(rec, output, "cost", "tracediff")
    lines = source.splitlines()
    for i, line in enumerate(lines):
        head = line.strip().split(" = ", 1)[0]
        if line.startswith("    v") and head[1:].isdigit():
            lines[i] = f"{line}; _seen[{head[1:]}] = {head}"
    seen, space = {}, {"_seen": None}
    exec(compile("\n".join(lines), "tracediff", "exec"), space)  # noqa: S102 (our own code)
    for name in dir(traceops):
        helper = getattr(traceops, name)
        if hasattr(helper, "py_func"):
            space[name] = helper.py_func
    space["to_cost"] = lambda v: float(np.asarray(v).reshape(-1)[0])
    space["_seen"] = seen
    try:
        space["traced_cost"](np.asarray(point, dtype=float), fdata, idata)
    except Exception:  # noqa: BLE001  (an operation that raises: the last one seen is not it)
        pass
    for k in live_nodes(rec, output):
        if k not in seen:
            return k
        mine, numpy = np.asarray(seen[k], dtype=float), np.asarray(there.values[k], dtype=float)
        if mine.shape != numpy.shape or not np.allclose(mine, numpy, rtol=rtol, atol=rtol,
                                                        equal_nan=True):
            return k
    return None

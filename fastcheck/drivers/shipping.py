"""Sending a check to other processes: what every multi-process driver shares.

The adapter (plain data: the user's cost, layout, theta, data) goes as bytes,
pickled by cloudpickle when it is installed (a cost defined in ``__main__`` or
a notebook goes by value) and by ``pickle`` otherwise; each worker unpickles
its own copy and builds its engine from it. A script that runs a check at its
top level, without a ``__main__`` guard, cannot start worker processes: each
new process imports the script again.
"""

import ast
import inspect
import multiprocessing
import pickle
import sys

from ..errors import ClusterError, InputTypeError

GUARD = ('put the code that runs the check under if __name__ == "__main__": ({who} starts '
         "its workers as new Python processes, which import your script again)")


def guard(who):
    """The advice about a script without a ``__main__`` guard, for ``who``'s workers."""
    return GUARD.format(who=who)


def refuse_unguarded_main(who, option):
    """``ClusterError`` when called while a spawned process imports the user's
    script: the script lacks its ``__main__`` guard, and every worker would
    start workers of its own. ``option`` names what asked for them."""
    # A spawned child runs the parent's script as module __mp_main__.
    main = sys.modules.get("__mp_main__")
    if main is not None and multiprocessing.current_process().name != "MainProcess":
        raise ClusterError(f"a check with {option} ran while a new worker process imported "
                           f"the script {getattr(main, '__file__', '?')}: {guard(who)}")


def unguarded_call():
    """The script's path when this call comes from the top level of the script run
    as ``__main__`` outside an ``if __name__ == "__main__":`` block (a spawned
    worker would run it again), else None. A notebook or ``python -c`` has no
    script to import again."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None:
        return None
    frame, line = inspect.currentframe(), None
    while frame is not None:  # the outermost line of the script's own code running now
        if frame.f_code.co_name == "<module>" and frame.f_globals is main.__dict__:
            line = frame.f_lineno
        frame = frame.f_back
    if line is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read())
    except (OSError, SyntaxError, ValueError):
        return path  # cannot tell: assume the worst
    guarded = any(isinstance(node, ast.If) and _is_main_test(node.test)
                  and node.body[0].lineno <= line <= node.body[-1].end_lineno
                  for node in tree.body)
    return None if guarded else path


def _is_main_test(test):
    """True for ``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return (any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
            and any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides))


def pickled(adapter, who, instead):
    """``adapter`` as bytes for ``who``'s workers (cloudpickle when installed, else
    pickle), or ``InputTypeError`` saying what cannot be sent; ``instead`` says
    how to run without them.

    Bytes, not the adapter itself: a worker handed NumPy arrays as views of a
    message buffer, at any byte offset, would sum unaligned data in another
    order, and a Python cost's estimates would differ in the last bits from a
    local run's (``test_dask.py::test_same_as_local``). Unpickled from bytes,
    the arrays get fresh, aligned memory, as locally.
    """
    try:
        import cloudpickle
    except ImportError:
        dumps, name = pickle.dumps, "pickle"
    else:
        dumps, name = cloudpickle.dumps, "cloudpickle"
    try:
        return dumps(adapter)
    except MemoryError:
        raise  # no fault of the cost: the check's budget error says so (check.held)
    except Exception as exc:
        raise InputTypeError(f"the cost or its data cannot be sent to {who} workers: "
                             f"{name} cannot pickle them ({type(exc).__name__}: {exc}). "
                             f"Workers need plain functions and arrays; {instead}, or make "
                             "the cost picklable") from None


def unpickled(payload, who):
    """The adapter of ``payload`` (``pickled``'s bytes), in a worker; ``ClusterError``
    when the worker cannot import a module the cost or its data needs."""
    try:
        return pickle.loads(payload)
    except ImportError as exc:
        raise ClusterError(
            f"a {who} worker cannot import {exc.name or 'a module'!r}, which the cost "
            f"or its data needs ({type(exc).__name__}: {exc}). Install it where the "
            "workers run (or put its folder on their PYTHONPATH), or send it by "
            "value: cloudpickle.register_pickle_by_value(module) before the "
            "check") from None

"""Exceptions raised by fastcheck.

Every error a user can cause is one of these. Each subclasses ``ValueError`` or
``TypeError`` as well, so ``except ValueError`` keeps working for callers that
do not know fastcheck, and each message names the argument or tensor at fault
and says what to do about it.
"""


class FastcheckError(Exception):
    """Base class of every fastcheck error.

    An error raised from inside the machinery (Numba, Dask, NumPy's conversions)
    is raised without the internal exception chained to it, so that an uncaught
    one prints its own message and not pages of internals; the internal
    exception stays in ``__context__``, and ``detail`` holds its text where the
    message only summarises it (Numba's full compile error for a ``CompileError``).
    """

    detail = None


class ParameterError(FastcheckError, ValueError):
    """A parameter tensor is missing, empty, of the wrong shape or not finite."""


class GradientError(FastcheckError, ValueError):
    """A gradient is missing, of the wrong shape, or not finite."""


class CostError(FastcheckError, ValueError):
    """The cost raised, or returned something other than a finite scalar."""


class OptionError(FastcheckError, ValueError):
    """An option of a check (eps, threshold, method, engine, ...) is invalid."""


class DataError(FastcheckError, ValueError):
    """The data arguments (X, Y, ...) do not fit the cost or the model."""


class InputTypeError(FastcheckError, TypeError):
    """An argument has a type fastcheck cannot use (strings, objects, ...)."""


class SignatureError(FastcheckError, TypeError):
    """A compiled cost does not have the signature the engine calls."""


class CompileError(SignatureError):
    """Numba cannot compile a user's cost; the message names the file, line and cause."""


class MemoryBudgetError(FastcheckError, ValueError, MemoryError):
    """A check would need more scratch memory than allowed, or ran out of it. Also
    a ``MemoryError``, so that ``except MemoryError`` around a check keeps working."""


class ClusterError(FastcheckError, RuntimeError):
    """A Dask cluster did not start, went away, or cannot run the cost; the
    message says what happened and what to do."""


def source_place(filename, lineno):
    """Where a line of the user's code is, as a message names it: ``name.py:14``,
    or for code typed into a notebook or IPython, ``In [5], line 3`` (IPython
    runs each cell from a temporary file whose name, ``3794674805.py``, means
    nothing to the user; its compiler maps that file to the cell's number)."""
    import os
    import sys
    shell = sys.modules.get("IPython")
    shell = getattr(shell, "get_ipython", lambda: None)() if shell else None
    cells = getattr(getattr(shell, "compile", None), "_filename_map", None)
    name = os.path.basename(filename)
    if isinstance(cells, dict):  # keyed by the name IPython compiled, which a path may extend
        cell = cells.get(filename, next((n for key, n in cells.items()
                                         if os.path.basename(key) == name), None))
        if cell is not None:
            return f"In [{cell}], line {lineno}"
    return f"{name}:{lineno}"

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


class MemoryBudgetError(FastcheckError, ValueError):
    """A check would need more scratch memory than allowed."""


class ClusterError(FastcheckError, RuntimeError):
    """A Dask cluster did not start, went away, or cannot run the cost; the
    message says what happened and what to do."""

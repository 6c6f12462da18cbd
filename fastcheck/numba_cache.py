"""An unreadable Numba cache file is a cache miss, not an error.

``cache=True`` keeps, per function, an index (``name-line.pyXY.nbi``) and one
data file per compiled signature (``name-line.pyXY.N.nbc``). An interrupted
write or a full disk can leave one truncated, empty or garbage; Numba (0.68)
then raises pickle's ``UnpicklingError`` or ``EOFError`` from every load, on
every run, naming no file (numba#10434): at ``import fastcheck``, since the
generic kernels are compiled for a signature, so load their cache, at import;
and on every check of a compiled cost.

``install()`` wraps the two readers of Numba's ``IndexDataCacheFile``. A file
that cannot be unpickled is removed, with a warning that names it, and read as
a miss: the function recompiles and Numba writes a fresh file in its place. If
it cannot be removed, the warning says to delete it. Nothing else changes: a
readable cache loads as before, an ``OSError`` propagates as before, and should
Numba handle damaged files itself one day, the wrappers simply never fire.
The wrappers apply to every cached Numba function in the process, the user's
own compiled costs included.
"""

import functools
import os
import warnings

from numba.core import caching

_MARK = "_fastcheck_recovers"


class DamagedCacheWarning(RuntimeWarning):
    """A Numba cache file could not be read; it was dropped and its function recompiled."""


#: The readers wrapped: name -> (the path of the file it reads, what a miss returns).
READERS = {
    "_load_index": (lambda self: self._index_path, dict),  # no overloads
    "_load_data": (lambda self, name: self._data_path(name), lambda: None),  # no data
}


def install():
    """Make damaged cache files misses, in this process. Idempotent; cheap.

    Returns True if installed (now or before), False if this Numba's cache
    lacks the readers it wraps (then Numba behaves as it always did).
    """
    cache_file = getattr(caching, "IndexDataCacheFile", None)
    if cache_file is None or not all(hasattr(cache_file, name) for name in READERS):
        return False
    for name, (path_of, miss) in READERS.items():
        reader = getattr(cache_file, name)
        if not getattr(reader, _MARK, False):
            setattr(cache_file, name, _recovering(reader, path_of, miss))
    return True


def _recovering(reader, path_of, miss):
    """``reader`` of a cache file, returning ``miss()`` when the file is damaged;
    ``path_of(self, *args)`` is the file it reads."""
    @functools.wraps(reader)
    def read(self, *args):
        try:
            return reader(self, *args)
        except OSError:
            raise  # a missing file is Numba's to handle; others are not damage
        except Exception as exc:  # noqa: BLE001  (unpickling garbage raises almost anything)
            _discard(path_of(self, *args), exc)
            return miss()

    setattr(read, _MARK, True)
    return read


def _discard(path, exc):
    """Remove the damaged cache file ``path`` and say so."""
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        os.remove(path)
    except FileNotFoundError:
        done = "another process removed it"
    except OSError as err:
        done = f"delete it by hand: it could not be removed ({err})"
    else:
        done = "removed it"
    warnings.warn(f"fastcheck: the Numba cache file {path} could not be read ({reason}); "
                  f"{done}, and its function is compiled again", DamagedCacheWarning,
                  stacklevel=2)

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

A cache file is read only if it and its directory are this user's (or root's)
and nobody else can write them (``owned``): a pickled index planted by another
user in a shared directory would otherwise run as whoever loads it. Such a
directory is neither read nor written, with one ``UnsafeCacheWarning`` naming it.

A cache that cannot be written is not an error either: with no writable place
for it (a read-only install and an unwritable HOME, where Numba raised
"no locator available" while fastcheck's kernels were defined at import) the
function compiles without a cache; a save that fails (a read-only directory,
a full disk: ``OSError``) leaves the compiled function in memory. Either
warns once per process with ``CacheUnavailableWarning``. Numba writes each
cache file under a temporary name and renames it, so a failed save leaves no
partial file behind.
"""

import functools
import os
import threading
import warnings

from numba.core import caching, dispatcher

from . import owned

_MARK = "_fastcheck_recovers"


class DamagedCacheWarning(RuntimeWarning):
    """A Numba cache file could not be read; it was dropped and its function recompiled."""


#: The readers wrapped: name -> (the path of the file it reads, what a miss returns).
READERS = {
    "_load_index": (lambda self: self._index_path, dict),  # no overloads
    "_load_data": (lambda self, name: self._data_path(name), lambda: None),  # no data
}


class UnsafeCacheWarning(RuntimeWarning):
    """A cache directory or file another user could write was not read from."""


class CacheUnavailableWarning(RuntimeWarning):
    """Numba's cache could not be written here: functions compile in memory this run."""


_warned = set()
_warned_lock = threading.Lock()


def warn_once(topic, message, category=None, stacklevel=3):
    """Warn ``message`` the first time ``topic`` comes up in this process."""
    with _warned_lock:
        if topic in _warned:
            return
        _warned.add(topic)
    warnings.warn(message, category or CacheUnavailableWarning, stacklevel=stacklevel)


def install():
    """Make damaged cache files misses and unwritable caches warnings, in this
    process. Idempotent; cheap.

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
    for owner, name, wrap in ((dispatcher.Dispatcher, "enable_caching", _enabling),
                              (caching.Cache, "save_overload", _saving)):
        method = getattr(owner, name, None)
        if method is not None and not getattr(method, _MARK, False):
            setattr(owner, name, wrap(method))
    return True


def _enabling(enable_caching):
    """``Dispatcher.enable_caching`` that leaves caching off where Numba finds no
    writable place for a function's cache, instead of raising."""
    @functools.wraps(enable_caching)
    def enable(self):
        try:
            enable_caching(self)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            warn_once("locator", "fastcheck: Numba finds no writable directory for its cache "
                      f"({exc}); compiled functions are kept in memory for this run only. "
                      "Set NUMBA_CACHE_DIR and FASTCHECK_CACHE_DIR to a writable directory "
                      "to keep them", stacklevel=4)

    setattr(enable, _MARK, True)
    return enable


def _saving(save_overload):
    """``Cache.save_overload`` that warns, once, when the cache cannot be written,
    and writes nothing where it would not read (a directory another user can write)."""
    @functools.wraps(save_overload)
    def save(self, sig, data):
        if _refused(self.cache_path):
            return
        try:
            save_overload(self, sig, data)
        except OSError as exc:
            warn_once("save", f"fastcheck: Numba could not write its cache in "
                      f"{self.cache_path} ({exc}); compiled functions are kept in memory "
                      "for this run only. Free space there, or set NUMBA_CACHE_DIR to a "
                      "writable directory", stacklevel=4)

    setattr(save, _MARK, True)
    return save


def _recovering(reader, path_of, miss):
    """``reader`` of a cache file, returning ``miss()`` when the file is damaged;
    ``path_of(self, *args)`` is the file it reads."""
    @functools.wraps(reader)
    def read(self, *args):
        path = path_of(self, *args)
        if _refused(os.path.dirname(os.path.abspath(path)), path):
            return miss()
        try:
            return reader(self, *args)
        except OSError:
            raise  # a missing file is Numba's to handle; others are not damage
        except Exception as exc:  # noqa: BLE001  (unpickling garbage raises almost anything)
            _discard(path_of(self, *args), exc)
            return miss()

    setattr(read, _MARK, True)
    return read


def _refused(folder, path=None):
    """True if nothing is read from or written to the cache directory ``folder``
    (or its file ``path``): it may hold another user's writing (``owned.unsafe``).
    Warns once per directory."""
    for where in (folder, path):
        reason = None if where is None else owned.unsafe(where)
        if reason is not None:
            break
    else:
        return False
    warn_once(("unsafe", folder), f"fastcheck: nothing is read from the cache in {folder}: "
              f"{where} is not safe to load ({reason}), and a planted cache file runs code "
              "when it is loaded. Compiled functions are kept in memory for this run. Point "
              "FASTCHECK_CACHE_DIR (and NUMBA_CACHE_DIR) to a directory of your own, or "
              f"run `chmod go-w {folder}` if it is yours", UnsafeCacheWarning, stacklevel=5)
    return True


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

"""Where compiled costs are stored: generated files on disk, bounded in size, or
in memory when the disk cannot take them.

An *entry* is one key's generated module ``fastcheck_cost_<key>.py`` in
``cache.cache_dir()``, its ``.variant`` marker, and the object code Numba keeps
for it (``__pycache__/fastcheck_cost_<key>.*`` beside it, or the same names
under ``NUMBA_CACHE_DIR``).

* **Written atomically, checked when read.** The file is written under a
  temporary name and then linked or renamed into place, so no reader sees half
  of it. Its text must equal the source generated for its key: a file cut
  short, emptied or edited is replaced (atomically, with a warning naming it,
  once per process) and its function compiled again. The module is executed
  from the text fastcheck generated, never from what it read.
* **Only the user's own.** The cache directory is created ``0700`` and files
  ``0600``; a directory that another user owns or can write (``owned.unsafe``)
  is neither read nor written: the cost compiles in memory, with one
  ``UnsafeCacheWarning``. (Numba's own files are guarded in ``numba_cache``.)
* **In memory when the disk fails.** A cache directory that cannot be created
  or written (read-only, a full disk, an unwritable HOME) is no error: the
  module is executed from memory and compiled without a disk cache, with one
  warning per process.
* **Bounded.** After each compile, entries least recently used (the ``.py``
  file's access time, set on every use) are removed until the entries total at
  most ``FASTCHECK_CACHE_MAX`` (default ``DEFAULT_MAX``, 500 MB; a number of
  bytes, or with a K, M or G suffix). ``fastcheck cache`` shows the entries,
  ``fastcheck cache clear`` removes them.
"""

import linecache
import os
import re
import sys
import tempfile
import time
import types
from pathlib import Path

from numba.core import caching, config

from ..errors import OptionError
from ..runtime import owned
from ..runtime.numba_cache import DamagedCacheWarning, UnsafeCacheWarning, warn_once
from . import cache

PREFIX = "fastcheck_cost_"
#: The default of ``FASTCHECK_CACHE_MAX``, in bytes.
DEFAULT_MAX = 500 * 2**20
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}


def max_bytes():
    """The disk cap: ``FASTCHECK_CACHE_MAX`` in bytes (``"200M"``, ``"1G"``,
    ``"50000000"``), else ``DEFAULT_MAX``."""
    text = os.environ.get("FASTCHECK_CACHE_MAX", "").strip()
    if not text:
        return DEFAULT_MAX
    match = re.fullmatch(r"(\d+(?:\.\d*)?)\s*([KMG]?)B?", text.upper())
    if match is None:
        raise OptionError(f"FASTCHECK_CACHE_MAX must be a size such as 500M, 2G or a number "
                          f"of bytes, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def load(path, name, source):
    """``(module, on_disk)``: the generated module ``name`` of ``source``.

    From ``path`` (written first if missing or damaged) when the disk allows,
    registered in ``sys.modules`` (where Numba looks a cached function's module
    up when it rebuilds it); else from memory, ``on_disk`` False, and the
    caller compiles without a disk cache.
    """
    module = sys.modules.get(name)
    if module is not None:
        return module, getattr(module, "_fastcheck_on_disk", False)
    try:
        _ensure(path, source)
        _touch(path)
        on_disk = not _refused(path.parent)
    except OSError as exc:
        warn_once("fastcheck-dir", f"fastcheck: cannot write compiled costs to {path.parent} "
                  f"({exc}); they are compiled in memory for this run only. Set "
                  "FASTCHECK_CACHE_DIR to a writable directory to keep them", stacklevel=4)
        on_disk = False
    filename = str(path) if on_disk else f"<fastcheck generated {name}>"
    if not on_disk:  # lets Numba and tracebacks show the generated lines
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    module._fastcheck_on_disk = on_disk
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    return module, on_disk


def _ensure(path, source):
    """Make ``path`` hold ``source``, atomically; leave a correct file untouched
    (Numba's index checks its mtime and would drop its object code)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = None
    except (OSError, UnicodeDecodeError) as exc:
        text = f"unreadable: {exc}"
    if text == source:
        return
    owned.private_dir(path.parent)
    if _refused(path.parent):
        return  # not ours: written nowhere, compiled in memory
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(source)
        if text is None:
            try:
                os.link(tmp, path)  # creates the name or fails: racing writers never clash
                return
            except FileExistsError:
                if path.read_text(encoding="utf-8") == source:
                    return  # another process wrote it
            except OSError:  # a file system without hard links
                pass
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if text is not None:
        warn_once(("damaged", str(path)), f"fastcheck: the cached file {path} was damaged "
                  "(cut short, emptied or edited); it was written again and its cost is "
                  "compiled again", DamagedCacheWarning, stacklevel=5)


def _refused(directory):
    """True (with one warning) if the cache ``directory`` may hold another user's
    files: Numba's index there is a pickle, so nothing is loaded from it."""
    reason = owned.unsafe(directory) or owned.unsafe(numba_dir(directory))
    if reason is not None:
        warn_once(("unsafe", str(directory)), f"fastcheck: compiled costs are not cached in "
                  f"{directory}: {reason}, and a cache file planted there would run code "
                  "when it is loaded. They are compiled in memory for this run. Set "
                  "FASTCHECK_CACHE_DIR to a directory of your own, or run "
                  f"`chmod go-w {directory}` if it is yours", UnsafeCacheWarning, stacklevel=5)
    return reason is not None


def _touch(path):
    """Record a use: the access time, which ``prune`` orders by (the mtime stays,
    since Numba's index checks it)."""
    try:
        os.utime(path, (time.time(), path.stat().st_mtime))
    except OSError:
        pass


def numba_dir(directory):
    """Where Numba keeps the object code of modules in ``directory``."""
    if config.CACHE_DIR:
        sub = caching._CacheLocator.get_suitable_cache_subpath(str(Path(directory) / "x.py"))
        return Path(config.CACHE_DIR) / sub
    return Path(directory) / "__pycache__"


def entries(directory=None):
    """``[(key_name, bytes, last_used, [files])]`` of the entries in ``directory``
    (default the cache directory), least recently used first."""
    directory = Path(directory or cache.cache_dir())
    found = {}
    for folder in (directory, numba_dir(directory)):
        try:
            listing = list(os.scandir(folder))
        except OSError:
            continue
        for item in listing:
            if item.name.startswith(PREFIX) and item.is_file():
                stem = item.name.split(".", 1)[0]
                found.setdefault(stem, []).append(Path(item.path))
    result = []
    for stem, files in found.items():
        size, used = 0, 0.0
        for file in files:
            try:
                stat = file.stat()
            except OSError:
                continue
            size += stat.st_size
            if file.suffix == ".py":
                used = max(stat.st_atime, stat.st_mtime)
        result.append((stem, size, used, files))
    return sorted(result, key=lambda entry: entry[2])


def prune(keep=(), limit=None, directory=None):
    """Remove least recently used entries until they total at most ``limit``
    bytes (default ``max_bytes()``); never those named in ``keep``. Returns the
    number removed. Files another process removed first are no error."""
    limit = max_bytes() if limit is None else limit
    found = entries(directory)
    total = sum(size for _, size, _, _ in found)
    removed = 0
    for stem, size, _, files in found:
        if total <= limit:
            break
        if stem in keep:
            continue
        for file in files:
            try:
                file.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                return removed  # a read-only cache: nothing more can go
        total -= size
        removed += 1
    return removed


def _load_seconds_path(identity):
    # An entry of its own (``PREFIX``): ``prune`` and ``clear`` remove it with the rest.
    return cache.cache_dir() / f"{PREFIX}load_{identity}.seconds"


def load_seconds(identity):
    """The seconds taking up the cached compiled cost of ``identity`` (a digest of
    the cost, ``costs.python.PythonCostAdapter.identity``) took the last time a
    process did (keying or tracing it, loading it, the trust test), or None."""
    text = cache.read_marker(_load_seconds_path(identity))
    try:
        return float(text) if text else None
    except ValueError:
        return None  # damaged: measured again next time


def remember_load_seconds(identity, seconds):
    """Keep ``seconds`` as ``load_seconds(identity)`` for later processes."""
    path = _load_seconds_path(identity)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        cache.write_marker(path, f"{seconds:.6g}")
    except OSError:
        pass  # a read-only cache: the next process loads it and measures again


def clear(directory=None):
    """Remove every entry; returns ``(entries, bytes)`` removed."""
    found = entries(directory)
    for _, _, _, files in found:
        for file in files:
            file.unlink(missing_ok=True)
    return len(found), sum(size for _, size, _, _ in found)


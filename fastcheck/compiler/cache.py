"""Cache keys, the generated files named by them, and Numba's disk cache behind them.

The key is a SHA-256 over everything a compiled cost depends on (see
``make_key``, the one key function of both compilers); the generated module
is written to ``<cache dir>/<name>.py`` with the key in its name (``store``
writes, checks, bounds and clears these files), and compiled with
``cache=True``, so Numba keeps its object code next to it (or under
``NUMBA_CACHE_DIR``). Nothing is ever overwritten in place: a changed global,
helper or shape is a new key and so a new file, which is why the cache cannot
serve stale code.
"""

import functools
import hashlib
import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from numba.core.registry import cpu_target

#: Bump when the meaning of a key changes in a way the generated source does not show.
KEY_VERSION = 1


def cache_dir():
    """``FASTCHECK_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastcheck``, else ``~/.cache/fastcheck``."""
    explicit = os.environ.get("FASTCHECK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastcheck"


@functools.cache
def _fastcheck_version():
    # Reading the installed metadata takes milliseconds; it cannot change in-process.
    try:
        return importlib.metadata.version("fastcheck")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def make_key(*parts):
    """Hex SHA-256 of ``parts`` and of the versions that change what Numba produces.

    Every compiled cost is keyed here, from source or by tracing: ``parts``
    are what its generated module depends on besides those versions (bytes
    as they are, anything else by its ``repr``). The source compiler passes
    the fingerprint of the cost and its helpers (their bytecode and the
    values of the globals and closure cells they read), the parameter layout,
    the kinds of the arguments, the form of the cost and the generated
    trampoline; the tracer, its generated code (its buffers are arguments).
    """
    digest = hashlib.sha256()
    versions = (KEY_VERSION, np.__version__, numba.__version__, sys.version,
                _fastcheck_version())
    for part in (*parts, versions):
        data = part if isinstance(part, bytes) else repr(part).encode()
        # Each part hashed on its own first: no two lists of parts give one stream.
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def module_name(key):
    return f"fastcheck_cost_{key}"


def write_marker(path, text):
    """Write a small file atomically (every writer writes the same text)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def read_marker(path):
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return None


def in_numba_cache(py_func, signature):
    """True if Numba's disk cache holds ``py_func`` compiled for ``signature``.

    Reads the index only (no object code is loaded). It uses Numba's cache
    internals, so any surprise there answers False rather than raising.
    """
    try:
        from numba.core.caching import FunctionCache
        cache = FunctionCache(py_func)
        codegen = cpu_target.target_context.codegen()
        key = cache._index_key(signature, codegen)
        return key in cache._cache_file._load_index()
    except Exception:  # internals moved: say "not cached", the safe answer
        return False

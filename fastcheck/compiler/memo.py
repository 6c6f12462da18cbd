"""The compiled costs this process holds in memory: the few most recently used.

Both compilers keep what they compiled here, by its cache key, so a cost
checked again in the same process costs a dictionary look-up. The table is
bounded by ``MEMORY_KEEP`` in all (each entry is about 4 MB of machine code);
the least recently used entry is forgotten first, with its generated module,
which Numba no longer needs once the dispatcher is gone.
"""

import sys
import threading
from collections import OrderedDict

from .cache import module_name

#: One compile at a time in this process: Numba holds its own global compiler
#: lock anyway, and this one also guards the table and ``sys.modules``.
LOCK = threading.RLock()
#: How many compiled costs the table keeps: the most recently used.
MEMORY_KEEP = 8
_COMPILED = OrderedDict()  # key -> (dispatcher, variant)


def holds(key):
    """True if ``key``'s compiled cost is in memory (its place in the order unchanged)."""
    return key in _COMPILED


def get(key):
    """``(dispatcher, variant)`` of ``key``, now the most recently used, or None."""
    with LOCK:
        entry = _COMPILED.get(key)
        if entry is not None:
            _COMPILED.move_to_end(key)
        return entry


def put(key, dispatcher, variant):
    """Keep ``key``'s compiled cost, forgetting the least recently used beyond
    ``MEMORY_KEEP`` (and their generated modules)."""
    with LOCK:
        _COMPILED[key] = dispatcher, variant
        _COMPILED.move_to_end(key)
        while len(_COMPILED) > MEMORY_KEEP:
            old, _ = _COMPILED.popitem(last=False)
            sys.modules.pop(module_name(old), None)


def forget(key):
    """Drop ``key``'s compiled cost from memory (a new process would not have it)."""
    with LOCK:
        _COMPILED.pop(key, None)


def count():
    """How many compiled costs are in memory."""
    return len(_COMPILED)

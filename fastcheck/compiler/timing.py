"""How long a compile takes on this machine, predicted from the compiles it has done.

Every cold compile from source records the size of the code it compiled
(bytes of bytecode of the cost and its helpers) and its wall time in
``<cache dir>/compile-times.json``; the prediction for a new cost is the
median seconds per byte of those records times its size. Before the first
compile on a machine it is ``DEFAULT_SECONDS``. ``costs/python.py`` weighs it
against the check's predicted Python time. (A traced record's size is known
only once the cost is traced, after that decision: its compiles are not
recorded, and ``costs/python.py`` predicts them with a fixed figure.)
"""

import json
import os
import statistics
import tempfile

from .cache import cache_dir

#: A small cost's cold compile before this machine has measured one (the seed's: 3 to 9 s).
DEFAULT_SECONDS = 5.0
#: Records kept: the newest, so the figure follows the machine's load.
KEEP = 32
_FILE = "compile-times.json"


def _records():
    try:
        with open(cache_dir() / _FILE, encoding="utf-8") as handle:
            records = json.load(handle)
        return [(float(size), float(seconds)) for size, seconds in records]
    except (OSError, ValueError, TypeError):  # none yet, or unreadable: no history
        return []


def record(size, seconds):
    """Add one cold compile of ``size`` bytes of bytecode that took ``seconds``."""
    records = (_records() + [(size, seconds)])[-KEEP:]
    try:
        directory = cache_dir()
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(records, handle)
        os.replace(tmp, directory / _FILE)
    except OSError:  # a read-only cache: predictions keep the default
        pass


def predict(size):
    """Predicted seconds to compile ``size`` bytes of bytecode here."""
    records = _records()
    if not records:
        return DEFAULT_SECONDS
    per_byte = statistics.median(seconds / max(s, 1.0) for s, seconds in records)
    return per_byte * max(size, 1.0)

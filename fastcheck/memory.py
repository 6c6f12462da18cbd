"""Scratch memory: how much a check will allocate, said before it does.

A check that cannot fit must fail with a clear message before it allocates,
not halfway through with a MemoryError, or worse, by swapping the machine to a
halt. The estimates count what the engines allocate beyond the parameters.
"""

import os

from .errors import MemoryBudgetError

#: Leave this fraction of the available memory to everything else.
HEADROOM = 0.8


def available_bytes():
    """Memory the system can give us now (MemAvailable), in bytes."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def format_bytes(count):
    """``1536`` -> ``"1.5 KB"``."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.3g} {unit}" if unit != "B" else f"{count} B"
        count /= 1024
    return f"{count:.3g} GB"


#: Below this, a check fits anywhere fastcheck runs: skip reading /proc/meminfo.
SMALL_BYTES = 64 * 2**20


def ensure_fits(needed, what):
    """Raise ``MemoryBudgetError`` unless ``needed`` bytes fit in memory now."""
    if needed < SMALL_BYTES:
        return
    free = available_bytes()
    if needed > HEADROOM * free:
        raise MemoryBudgetError(
            f"{what} needs about {format_bytes(needed)} of scratch, but only "
            f"{format_bytes(free)} is available; check a sample (sample=10_000), use "
            "fewer threads (each holds a copy of theta), or the layered engine for models")

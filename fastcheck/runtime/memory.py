"""Scratch memory: how much a check will allocate, said before it does.

A check that cannot fit must fail with a clear message before it allocates,
not halfway through with a MemoryError, or worse, by swapping the machine to a
halt. The estimates count what the engines allocate beyond the parameters.

What "fits" means is the tightest of the limits this process actually lives
under, not only the machine's free memory: its address-space and data limits
(``ulimit -v``, ``ulimit -d``, a batch scheduler's), and the memory limit of
its container (the cgroup). Each is read where the platform has it and skipped
where it does not, so the same code runs on Linux, macOS and Windows.
"""

import os

import psutil

try:
    import resource
except ImportError:  # Windows: no rlimits
    resource = None

from ..errors import MemoryBudgetError

#: Leave this fraction of the available memory to everything else.
HEADROOM = 0.8

#: Where Linux describes this process's control groups and mounts.
PROC_SELF = "/proc/self"
#: A cgroup v1 limit at or above this is the kernel's "no limit" (about 2**63).
UNLIMITED = 2**62


def available_bytes():
    """Bytes this process can still allocate now: the smallest of

    - the memory the system can give (psutil's ``virtual_memory().available``);
    - the headroom under ``RLIMIT_AS`` (the limit minus the process's virtual
      size) and under ``RLIMIT_DATA`` (the limit minus its data size), when set;
    - the headroom of its memory cgroup and every ancestor (v2 or v1): the limit
      minus the usage that cannot be reclaimed (file cache not in active use
      can), when Linux says so.
    """
    candidates = [psutil.virtual_memory().available]
    candidates += rlimit_headroom()
    candidates += cgroup_headroom()
    return max(0, int(min(candidates)))


def rlimit_headroom():
    """Bytes left under each soft ``RLIMIT_AS``/``RLIMIT_DATA`` that is set (a list)."""
    if resource is None:
        return []
    usage = None
    headroom = []
    for name, field in (("RLIMIT_AS", "vms"), ("RLIMIT_DATA", "data")):
        which = getattr(resource, name, None)
        if which is None:
            continue
        soft, _ = resource.getrlimit(which)
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        if usage is None:
            usage = psutil.Process().memory_info()
        # macOS reports no data size: the virtual size bounds it from above.
        headroom.append(soft - getattr(usage, field, usage.vms))
    return headroom


def cgroup_headroom():
    """Bytes left under the memory limit of this process's cgroup and of each of
    its ancestors that has one (a list; empty where there are no cgroups)."""
    headroom = []
    for version, directory in _cgroup_dirs():
        if version == 2:
            limit = _read_int(directory, "memory.max")
            usage = _read_int(directory, "memory.current")
            inactive = _read_stat(directory, "inactive_file")
        else:
            limit = _read_int(directory, "memory.limit_in_bytes")
            usage = _read_int(directory, "memory.usage_in_bytes")
            inactive = _read_stat(directory, "total_inactive_file")
        if limit is None or usage is None or limit >= UNLIMITED:
            continue
        headroom.append(limit - max(0, usage - (inactive or 0)))
    return headroom


def _cgroup_dirs():
    """(version, directory) of this process's memory cgroups, each followed by its
    ancestors up to the mount point: v2 from the unified hierarchy, v1 from the
    memory controller's."""
    try:
        with open(os.path.join(PROC_SELF, "cgroup")) as f:
            memberships = [line.rstrip("\n").split(":", 2) for line in f]
        with open(os.path.join(PROC_SELF, "mountinfo")) as f:
            mounts = _cgroup_mounts(f)
    except OSError:
        return []
    found = []
    for fields in memberships:
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and controllers == "":
            version = 2
        elif "memory" in controllers.split(","):
            version = 1
        else:
            continue
        for root, mount_point in mounts.get(version, ()):
            # A container sees its own cgroup as the root of the mount.
            relative = path[len(root):] if path.startswith(root) else ""
            directory = os.path.normpath(mount_point + "/" + relative.strip("/"))
            while True:
                found.append((version, directory))
                if directory == mount_point or len(directory) <= len(mount_point):
                    break
                directory = os.path.dirname(directory)
    return found


def _cgroup_mounts(mountinfo):
    """{2: [(root, mount point)], 1: [...]} of the cgroup2 and v1 memory mounts
    listed in a ``/proc/self/mountinfo`` stream."""
    mounts = {}
    for line in mountinfo:
        fields = line.split()
        if "-" not in fields:
            continue
        tail = fields[fields.index("-") + 1:]
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            version = 2
        elif fstype == "cgroup" and "memory" in options:
            version = 1
        else:
            continue
        mounts.setdefault(version, []).append((fields[3], os.path.normpath(fields[4])))
    return mounts


def _read_int(directory, name):
    """The integer in ``directory/name``, or None (missing, unreadable, "max")."""
    try:
        with open(os.path.join(directory, name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _read_stat(directory, key):
    """The value of ``key`` in ``directory/memory.stat``, or None."""
    try:
        with open(os.path.join(directory, "memory.stat")) as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return None


def format_bytes(count):
    """``1536`` -> ``"1.5 KB"``."""
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.3g} {unit}" if unit != "B" else f"{count} B"
        count /= 1024
    return f"{count:.3g} GB"


#: Below this, an allocation fits anywhere fastcheck runs: skip asking the system.
#: Small, because under a tight ``ulimit -v`` tens of MB already matter (asking
#: costs about 0.1 ms).
SMALL_BYTES = 2**20


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



def ran_out(exc, what="the check"):
    """The ``MemoryBudgetError`` for a ``MemoryError`` raised inside ``what``: an
    allocation no budget foresaw (a temporary of the cost or of NumPy) did not
    fit. Said in the budget's terms, with what this process may still allocate;
    the notes on ``exc`` (where in the cost it was raised) are kept."""
    error = MemoryBudgetError(
        f"{what} ran out of memory ({str(exc) or 'MemoryError'}); this process may allocate "
        f"about {format_bytes(available_bytes())} more (free memory, ulimit -v and -d, the "
        "container's limit). Check a sample (sample=10_000) or fewer tensors (only=), use "
        "fewer threads, or give the process more memory")
    for note in getattr(exc, "__notes__", ()):
        error.add_note(note)
    return error

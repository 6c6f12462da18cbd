"""Whose is this cache? Nothing another user could have written is loaded.

Numba's cache index is a pickle, and unpickling runs code: a cache directory
that another user can write (a world-writable scratch directory, a group's
shared folder) lets them plant an index that runs as whoever checks next.
So before anything is read from a cache directory, fastcheck asks
``unsafe(path)`` of the directory and of the file: each must belong to this
user (or to root, who could change anything anyway) and must not be writable
by group or others. A directory with the sticky bit (``/tmp``) may be
world-writable: there, others can add names but not replace ours, and what
they add belongs to them, which the file's own test refuses.

The test is made just before the read, so a directory whose permissions change
between the test and the read (a race an attacker with write access to a
parent could try) is outside what it covers; the README's threat model says so.
"""

import os
import stat

#: Owners trusted besides the current user: root.
TRUSTED_OWNERS = (0,)


def unsafe(path):
    """Why ``path`` (a file or directory) may hold another user's writing, or None.

    A path that does not exist is not unsafe (there is nothing to load);
    one that cannot be inspected is.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be inspected ({exc.strerror})"
    if info.st_uid != os.geteuid() and info.st_uid not in TRUSTED_OWNERS:
        return f"it belongs to another user (uid {info.st_uid})"
    writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
        who = "others" if info.st_mode & stat.S_IWOTH else "its group"
        return f"{who} can write it (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def private_dir(path):
    """Create the directory ``path`` (and its parents) readable by this user only
    (``0700``); an existing directory is left as it is."""
    os.makedirs(path, mode=0o700, exist_ok=True)

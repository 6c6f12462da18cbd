"""Bounded compiles: a cold compile runs first in a forked child under a time and memory budget.

Some code sends Numba's type inference into minutes and tens of gigabytes
(a loop that appends tuples holding a dict to a list, as the Coursera
``rnn_forward`` does), and a compile cannot be interrupted from Python once it
has started. So the compile step (``generated``) compiles a cost that is not
in Numba's disk cache, from source or traced, in a forked copy of this
process first, with its address space capped and a deadline. A child that
compiles writes Numba's disk cache, and the parent only loads it; a child
that fails hands its ``CompileError`` back (Numba's text as the cause). A
child over its budget is killed, and the compile is refused with the reason.

Where ``os.fork`` does not exist (Windows) compiles run in-process, unbounded.
"""

import json
import os
import resource
import signal
import sys
import tempfile
import time
import warnings

from numba.core.compiler_lock import global_compiler_lock

from .. import errors
from ..errors import CompileError, OptionError

#: CPU seconds a cold compile may take (``FASTCHECK_COMPILE_SECONDS``): CPU time, not
#: wall time, so that a busy machine does not refuse a compile that is only slow.
SECONDS = 600.0
#: A child that stays this many times ``SECONDS`` in wall time (stuck, not computing)
#: is stopped too.
WALL_FACTOR = 10
#: Bytes of address space a compile may add (``FASTCHECK_COMPILE_MEMORY``, bytes).
MEMORY = 4 * 2**30
_POLL = 0.05


def limits():
    """``(seconds, bytes)`` from the environment, else the defaults."""
    values = []
    for name, default in (("FASTCHECK_COMPILE_SECONDS", SECONDS),
                          ("FASTCHECK_COMPILE_MEMORY", MEMORY)):
        text = os.environ.get(name)
        try:
            value = float(text) if text is not None else default
        except ValueError:
            value = -1.0
        if not 0 < value < float("inf"):
            raise OptionError(f"{name} must be a positive number (seconds, or bytes for "
                              f"the memory), got {text!r}")
        values.append(value)
    return values[0], int(values[1])


def supported():
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def _address_space():
    """Bytes of virtual memory this process maps now (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * resource.getpagesize()


def over_budget(compile_once, seconds=None, memory=None):
    """Run ``compile_once()`` in a forked child; None if it compiled, else the reason.

    ``compile_once`` compiles with Numba's disk cache on, so a child that
    succeeds leaves the result for the parent to load. A ``CompileError`` in
    the child is raised here, Numba's text of it in ``detail``.
    """
    default_seconds, default_memory = limits()
    seconds = default_seconds if seconds is None else seconds
    memory = default_memory if memory is None else memory
    cap = _address_space() + memory
    fd, report = tempfile.mkstemp(prefix="fastcheck-compile-", suffix=".json")
    os.close(fd)
    try:
        return _run_child(compile_once, seconds, memory, cap, report)
    finally:
        os.unlink(report)


def _run_child(compile_once, seconds, memory, cap, report):
    # Forked while holding Numba's compiler lock, so that no other thread is
    # half-way through a compile in the copy (it would never finish there).
    with global_compiler_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork with threads
        pid = os.fork()
    if pid == 0:  # the child: compile, report a CompileError, never return
        code = 0
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            used = resource.getrusage(resource.RUSAGE_SELF)
            cpu = int(used.ru_utime + used.ru_stime + seconds) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
            compile_once()
        except CompileError as exc:
            with open(report, "w", encoding="utf-8") as handle:
                json.dump([type(exc).__name__, str(exc),
                           exc.detail or str(exc.__cause__ or "")], handle)
            code = 1
        except MemoryError:
            code = 3
        except BaseException:  # not the compile's fault: the parent compiles in-process
            code = 4
        os._exit(code)
    status = _wait(pid, time.monotonic() + WALL_FACTOR * seconds)
    if status is None:
        return (f"Numba was still compiling it after {WALL_FACTOR * seconds:.0f} s (ten "
                "times the bound FASTCHECK_COMPILE_SECONDS, in wall time)")
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        return (f"Numba was still compiling it after {seconds:.0f} s of CPU time (the bound "
                "FASTCHECK_COMPILE_SECONDS)")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 4):
        return None
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1:
        with open(report, encoding="utf-8") as handle:
            kind, message, cause = json.load(handle)
        kind = getattr(errors, kind, CompileError)  # SignatureError stays one
        error = (kind if issubclass(kind, CompileError) else CompileError)(message)
        error.detail = cause  # Numba's full text, kept for whoever needs it
        raise error from None
    return (f"Numba ran out of the {memory / 2**30:.1f} GiB of memory a compile may use "
            "(the bound FASTCHECK_COMPILE_MEMORY)")


def _wait(pid, deadline):
    """The child's exit status, or None once it was killed at ``deadline``; a
    Ctrl-C (or any error) here kills the child too before it propagates."""
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            if time.monotonic() > deadline:
                break
            time.sleep(_POLL)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None

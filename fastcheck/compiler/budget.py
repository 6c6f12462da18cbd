"""Bounded compiles: a cold compile runs in a fresh interpreter under a time and memory budget.

Some code sends Numba's type inference into minutes and tens of gigabytes
(a loop that appends tuples holding a dict to a list, as the Coursera
``rnn_forward`` does), and a compile cannot be interrupted from Python once it
has started. So the compile step (``generated``) compiles a cost that is not
in Numba's disk cache, from source or traced, in a child process first, with
its address space capped and a deadline. A child that compiles writes Numba's
disk cache, and the parent only loads it; a child that fails hands its
``CompileError`` back (Numba's text in ``detail``). A child over its budget is
killed, and the compile is refused with the reason.

The child is a fresh interpreter (``subprocess``, never ``os.fork``): a process
that runs threads (JAX's, PyTorch's, Numba's own workers, a check's thread)
cannot be forked safely. The task reaches it pickled by Numba's copy of
cloudpickle, so the cost's own functions travel by value where they cannot be
imported (``__main__``, exec'd code). Starting it costs an interpreter and
``import fastcheck`` (about half a second; ``benchmarks/test_bench_defaults.py``
measures it). A ``Child`` can be polled, so a check runs on in Python while
it compiles (``route.Pending``).

Where ``resource`` limits do not exist (not Linux) compiles run in-process,
unbounded.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

from numba import cloudpickle

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
#: LLVM's optimisation level for the child's compile (Numba's ``NUMBA_OPT``; a level
#: the user sets wins). Numba's default, 3, spends most of a cold compile of loop
#: code in LLVM: a course's convolution loop took 110 CPU s at -O3 and 26 at -O2,
#: a character RNN 10 and 8, a softmax loss 26 and 20, and the compiled costs ran
#: at the same speed (0.96x, 1.06x, 1.00x, interleaved in one process) and gave
#: the same numbers bit for bit (without fast-math flags LLVM keeps IEEE
#: semantics at every level). The parent loads the child's code from Numba's
#: cache, whose index does not depend on the level.
COMPILE_OPT = 2
#: The niceness added to a compile that runs beside a check long enough to repay a
#: share of the CPU (``start(background=True)``, ``costs.python.SHARE_SECONDS``):
#: none. At niceness 5 the compile of the benchmark's MLP [784, 64, 10] (30 CPU s)
#: never finished beside its cold default check at load 4.5-12 (208 s, 89 s and
#: 46 s, all in Python); at niceness 0 it finished in 50 s and 37 s and the
#: checks took 57 s and 41 s (alternating pairs, load 4.5-5.6). On Linux with
#: autogroup, niceness weighs the child against the check inside their session.
BACKGROUND_NICE = 0
#: ``start(background=IDLE)``: the compile runs only on CPU time nobody else wants
#: (Linux's SCHED_IDLE; niceness 19 where that is refused). On a busy machine it
#: takes nothing from the check (the cold RNN of the benchmark, 16 s in Python at
#: load 6, took 21-29 s beside a compile at niceness 5 that never finished); on an
#: idle core it compiles at full speed.
IDLE = "idle"
_POLL = 0.05
# Exit statuses of the child: compiled; a CompileError (in the report); out of memory;
# anything else (not the compile's fault: the parent compiles in-process).
_OK, _REFUSED, _MEMORY, _OTHER = 0, 1, 3, 4


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
    return sys.platform.startswith("linux")


def _address_space():
    """Bytes of virtual memory this process maps now (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[0]) * resource.getpagesize()


class Child:
    """``task()`` running in a fresh interpreter under the budget.

    ``done()`` polls it (killing it past its wall-clock deadline), ``result()``
    waits for it: None if the task finished (or failed for a reason of its own,
    not the compile's: the caller then compiles in-process), else the reason it
    was stopped; a ``CompileError`` in the child is raised here, Numba's text in
    ``detail``. ``kill()`` stops it; so does a Ctrl-C in ``result()``.
    """

    def __init__(self, task, seconds=None, memory=None, background=False):
        default_seconds, default_memory = limits()
        self.seconds = default_seconds if seconds is None else seconds
        self.memory = default_memory if memory is None else memory
        self.started = time.perf_counter()
        self.deadline = time.monotonic() + WALL_FACTOR * self.seconds
        fd, self._payload = tempfile.mkstemp(prefix="fastcheck-compile-", suffix=".pickle")
        with os.fdopen(fd, "wb") as handle:
            cloudpickle.dump((task, self.seconds, self.memory), handle)
        self._report = self._payload[:-len(".pickle")] + ".json"
        env = dict(os.environ)
        # The child imports what the parent can: fastcheck and the user's modules.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if isinstance(p, str) and p)
        env.setdefault("NUMBA_OPT", str(COMPILE_OPT))
        priority = IDLE if background == IDLE else str(BACKGROUND_NICE if background else 0)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD, self._payload, self._report, priority],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, close_fds=True)
        self._outcome = None
        self._status = None

    def done(self):
        """True once the child has exited or was stopped at its deadline."""
        if self._status is None:
            status = self._process.poll()
            if status is None and time.monotonic() > self.deadline:
                self.kill()
                status = "wall"
            self._status = status
            if status is not None:
                self._cleanup()
        return self._status is not None

    def kill(self):
        """Stop the child (nothing if it has exited)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        if self._status is None:
            self._status = "killed"
            self._cleanup()

    def result(self):
        """Wait for the child; see the class."""
        try:
            while not self.done():
                time.sleep(_POLL)
        except BaseException:
            self.kill()
            raise
        return self._interpret()

    def _cleanup(self):
        try:
            with open(self._report, encoding="utf-8") as handle:
                self._outcome = json.load(handle)
        except (OSError, ValueError):
            self._outcome = None
        for path in (self._payload, self._report):
            try:
                os.unlink(path)
            except OSError:
                pass

    def _interpret(self):
        status, seconds = self._status, self.seconds
        if status == "wall":
            return (f"Numba was still compiling it after {WALL_FACTOR * seconds:.0f} s (ten "
                    "times the bound FASTCHECK_COMPILE_SECONDS, in wall time)")
        if status == "killed":
            return "the compile was stopped"
        if status in (-signal.SIGXCPU, -signal.SIGKILL):
            return (f"Numba was still compiling it after {seconds:.0f} s of CPU time (the bound "
                    "FASTCHECK_COMPILE_SECONDS)")
        if status in (_OK, _OTHER):
            return None
        if status == _REFUSED and self._outcome is not None:
            kind, message, cause = self._outcome
            kind = getattr(errors, kind, CompileError)  # SignatureError stays one
            error = (kind if isinstance(kind, type) and issubclass(kind, CompileError)
                     else CompileError)(message)
            error.detail = cause or message  # Numba's full text, kept for whoever needs it
            raise error from None
        return (f"Numba ran out of the {self.memory / 2**30:.1f} GiB of memory a compile may "
                "use (the bound FASTCHECK_COMPILE_MEMORY)")


def start(task, seconds=None, memory=None, background=False):
    """A ``Child`` running ``task()`` (picklable by cloudpickle) under the budget;
    ``background`` lowers its priority: True by ``BACKGROUND_NICE``, ``IDLE`` to
    CPU time nobody else wants."""
    return Child(task, seconds, memory, background)


def over_budget(task, seconds=None, memory=None):
    """Run ``task()`` in a child and wait: None if it compiled, else the reason
    it was stopped (``Child.result``)."""
    return start(task, seconds, memory).result()


#: The child's program: its priority first (``argv[3]``: ``IDLE`` or a niceness), so
#: that its start (an interpreter, ``import fastcheck`` and Numba: 1-2 CPU seconds)
#: already runs at it, then ``child_main``.
_CHILD = """import os, sys
if sys.argv[3] == %r:
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)
elif sys.argv[3] != "0":
    os.nice(int(sys.argv[3]))
from fastcheck.compiler.budget import child_main
child_main()
""" % IDLE


def child_main():
    """The child's entry point: ``argv`` names the pickled task and the report file."""
    payload, report = sys.argv[1], sys.argv[2]
    code = _OTHER
    try:
        with open(payload, "rb") as handle:
            task, seconds, memory = cloudpickle.load(handle)
        cap = _address_space() + memory
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(used.ru_utime + used.ru_stime + seconds) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
        task()
        code = _OK
    except CompileError as exc:
        with open(report, "w", encoding="utf-8") as handle:
            json.dump([type(exc).__name__, str(exc),
                       exc.detail or str(exc.__cause__ or "")], handle)
        code = _REFUSED
    except MemoryError:
        code = _MEMORY
    except BaseException:  # not the compile's fault: the parent compiles in-process
        code = _OTHER
    sys.stdout.flush()
    os._exit(code)

"""Numba's process-wide runtime, set up once when fastcheck is imported.

``configure()`` runs at ``import fastcheck``, before any of fastcheck's kernels
is compiled or loaded and before Numba starts its threads: the threading layer
cannot change once they run, and a damaged cache file must already read as a
miss when the first kernel loads (``numba_cache``). It compiles nothing; it
costs a few milliseconds.

The threading layer
-------------------
fastcheck runs its engines as ``prange`` kernels on Numba's threading layer, and
its users check gradients inside forked processes (multiprocessing data
loaders, pytest-xdist, a fork-started ``ProcessPoolExecutor``) and from several
threads of one process at once. Numba documents its three layers as:

=========  =========  ===========  ================================
layer      fork-safe  thread-safe  needs
=========  =========  ===========  ================================
tbb        yes        yes          Intel TBB (``pip install tbb``)
omp        no (GNU)   yes          GNU OpenMP, built in on Linux
workqueue  yes        no           nothing
=========  =========  ===========  ================================

**fastcheck chooses tbb**, the only layer that is both. With GNU OpenMP, a
process forked from one that started the layer is killed (SIGTERM, "fork()
called from a process already using GNU OpenMP") by its first parallel kernel:
``ProcessPoolExecutor`` raises ``BrokenProcessPool``, ``multiprocessing.Pool``
waits forever. workqueue survives fork but aborts the whole process when two
threads launch kernels at once, and concurrent checks from threads must work.

pip's ``tbb`` wheel puts libtbb in ``<prefix>/lib``, where the dynamic loader
does not look from a virtual environment, so Numba's lookup by name misses it
and its default silently falls back to OpenMP (numba#6108, numba#7148). So
``configure_threading`` loads libtbb from the path the wheel recorded first;
the loader then resolves Numba's lookup by name to the library already loaded.

**Without TBB** (or with a TBB older than Numba accepts) Numba's default stays:
OpenMP on Linux, which is thread-safe. A process forked after its parent
started GNU OpenMP must then not run a parallel kernel: ``parallel_safe()`` is
False there, and ``kernel_for(kernel)`` gives the kernel's Python function (its
``prange`` runs as a serial loop calling the compiled helpers): slower, right,
and alive. spawn and forkserver children start fresh and run in parallel.

A layer the user chose (``NUMBA_THREADING_LAYER``, ``numba.config.THREADING_LAYER``)
is kept, and so is one Numba already started before fastcheck was imported;
``parallel_safe()`` judges whatever layer actually runs.
"""

import ctypes
import importlib.metadata
import os
import sys
import warnings

import numba

from . import numba_cache, numba_symbols

#: The file name under which Numba loads TBB's runtime library, per platform.
LIBTBB = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}

#: True in a process forked (at any depth) from one running GNU OpenMP's layer.
_forked_from_openmp = False
_configured = False


def configure():
    """Everything fastcheck needs set before Numba compiles or starts threads.

    Called once by ``fastcheck/__init__.py``; calling it again does nothing.
    """
    global _configured
    if _configured:
        return
    _configured = True
    numba_symbols.distinct()
    numba_cache.install()
    configure_threading()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


def configure_threading():
    """Select Numba's ``tbb`` threading layer if TBB can be loaded.

    Returns the layer Numba will use or uses: "tbb" when selected here, the
    running layer if Numba already started one, else the user's choice or
    Numba's "default" (which resolves to OpenMP on Linux without TBB).
    """
    running = running_layer()
    if running is not None:
        return running  # too late to choose: it cannot change in this process
    if str(numba.config.THREADING_LAYER).lower() != "default":
        return numba.config.THREADING_LAYER  # the user's choice
    if tbb_available():
        numba.config.THREADING_LAYER = "tbb"
    return numba.config.THREADING_LAYER


def running_layer():
    """The threading layer Numba has started in this process, or None."""
    try:
        return numba.threading_layer()
    except ValueError:  # not started yet
        return None


def tbb_available():
    """True if Numba's tbb layer can load here (after loading the wheel's libtbb)."""
    _load_wheel_libtbb()
    from numba.np.ufunc import parallel

    check_version = getattr(parallel, "_check_tbb_version_compatible", None)
    try:
        if check_version is not None:
            with warnings.catch_warnings():
                # An old TBB is not an error here: fastcheck just does not pick it.
                warnings.simplefilter("ignore")
                check_version()
        from numba.np.ufunc import tbbpool  # noqa: F401  (loads, starts nothing)
    except (ImportError, OSError):
        return False
    return True


def _load_wheel_libtbb():
    """Load libtbb from where the ``tbb`` wheel installed it, if it did."""
    name = LIBTBB.get(sys.platform)
    if name is None:
        return
    candidates = [os.path.join(sys.prefix, "lib", name)]  # the usual place: no lookup
    if not os.path.exists(candidates[0]):
        try:
            files = importlib.metadata.files("tbb") or ()
        except importlib.metadata.PackageNotFoundError:
            return
        candidates = [str(f.locate()) for f in files if f.name == name]
    for path in candidates:
        try:
            ctypes.CDLL(path)
            return
        except OSError:
            continue


def _after_fork_in_child():
    global _forked_from_openmp
    numba_symbols.distinct()  # else the child numbers its functions as the parent goes on to
    # Numba's OpenMP layer on Linux is GNU OpenMP, whose thread pool a child
    # cannot use. Inherited by grandchildren, which Numba's own check misses.
    if running_layer() == "omp" and sys.platform.startswith("linux"):
        _forked_from_openmp = True


def parallel_safe():
    """False in a process forked from one that started GNU OpenMP's threading
    layer: a parallel kernel would kill it. True everywhere else."""
    return not _forked_from_openmp


def kernel_for(kernel):
    """``kernel`` (a ``parallel=True`` dispatcher), or, where ``parallel_safe()``
    is False, its Python function: same arguments, same results, one thread."""
    return kernel if parallel_safe() else kernel.py_func

"""Compiles that Ctrl-C can stop.

Numba compiles through LLVM, which calls back into Python through ctypes
(``ExecutionEngine._raw_object_cache_notify``); a ``KeyboardInterrupt`` raised
inside such a callback is printed as "Exception ignored on calling ctypes
callback function" and lost, so a Ctrl-C during a first compile was often
ignored, or surfaced later as a ``CompileError`` blaming the user's code.
``interruptible`` runs the compile on a helper thread while the main thread
waits in short, interruptible sleeps: signals reach only the main thread, so
Ctrl-C raises there at once. The helper is a daemon thread and finishes (or
dies with the process) on its own; Numba writes each cache file under a
temporary name and renames it, so it leaves no partial entry either way.
"""

import threading

#: How often the waiting main thread wakes, in seconds.
POLL_SECONDS = 0.05


def interruptible(work, name="fastcheck-compile"):
    """``work()``, run so that Ctrl-C in the main thread interrupts the wait for it.

    Off the main thread (which never sees ``KeyboardInterrupt``) it simply calls
    ``work()``. Exceptions of ``work`` are raised here with their traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        return work()
    box = {}

    def target():
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001  (handed to the waiting thread)
            box["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(POLL_SECONDS)
    if "error" in box:
        error = box.pop("error")
        try:
            raise error
        finally:
            del error  # no reference cycle through the traceback
    return box["value"]

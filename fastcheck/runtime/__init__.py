"""The process-wide machinery: Numba's threading layer and caches
(``numba_setup``, ``numba_cache``), BLAS threads (``blas``), the memory budget
(``memory``) and interruptible waits (``interrupt``). Nothing here knows what a
check is."""

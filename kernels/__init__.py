"""Numba kernels of fastcheck: pure functions over flat float64 arrays.

Nothing here validates, allocates per coordinate, or knows about dicts: the
facade in ``fastcheck`` does that and calls these with C-contiguous float64
arrays and preallocated outputs. Each kernel has a slow NumPy twin in
``tests/naive.py``.
"""

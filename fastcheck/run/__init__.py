"""Drivers: run a cost adapter's engine over a check's coordinates.

A driver decides how: threads, block sizes, progress, Ctrl-C and the memory
budget. ``local`` runs the blocks here, on this machine's threads; ``dask`` on
the workers of a Dask cluster (an optional extra, imported on use). A driver is
handed an adapter, an engine name, a method and the coordinates with their
steps, and returns an ``Estimates``; it never needs to know the kind of cost.
"""

from .dask import cluster, run_dask, validate_cluster
from .local import Estimates, run_local, thread_count, validate_threads

__all__ = ["Estimates", "cluster", "run_dask", "run_local", "thread_count", "validate_cluster",
           "validate_threads"]

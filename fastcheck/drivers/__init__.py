"""Drivers: run a cost adapter's engine over a check's coordinates.

A driver decides how: threads, block sizes, progress, Ctrl-C and the memory
budget. ``local`` runs the blocks here, on this machine's threads; ``dask`` on
the workers of a Dask cluster (an optional extra, imported on use). A driver is
handed an adapter and a ``Plan``; it builds the plan's engine once and runs any
of its passes (``PASSES``) over coordinates with their steps, returning an
``Estimates`` each time; it never needs to know the kind of cost.
"""

import contextlib

from .dask import DaskDriver, cluster, run_dask, validate_cluster
from .local import PASSES, Estimates, LocalDriver, run_local, thread_count, validate_threads


@contextlib.contextmanager
def driver(adapter, plan, *, client=None, workers=None, threads=None, progress=None):
    """The driver for a check's options, entered: a ``LocalDriver`` with ``threads``,
    or a ``DaskDriver`` on ``client`` or on a cluster of ``workers`` started for
    the body."""
    if client is None and workers is None:
        with LocalDriver(adapter, plan, threads=threads, progress=progress) as local:
            yield local
        return
    with cluster(client, workers) as dask_client, \
            DaskDriver(adapter, plan, client=dask_client, progress=progress) as remote:
        yield remote


__all__ = ["PASSES", "DaskDriver", "Estimates", "LocalDriver", "cluster", "driver", "run_dask",
           "run_local", "thread_count", "validate_cluster", "validate_threads"]

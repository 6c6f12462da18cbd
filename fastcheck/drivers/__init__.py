"""Drivers: run a cost adapter's engine passes over a plan's work.

A driver decides how: threads, block sizes, progress, Ctrl-C and the memory
budget. It is handed an adapter and a plan, builds the plan's engine once and
runs any pass of ``engines.passes.PASSES`` over work of the pass's shape,
returning ``Estimates`` each time; it never needs to know the kind of cost.

Drivers are found by the kind of ``client=`` a check is given (as Dask's
``distributed`` finds its comm backends by address scheme): ``local`` runs the
blocks on this machine's threads, ``dask`` on the workers of a Dask cluster (an
optional extra, imported only when a client or workers are given). A driver
is a module with ``validate(client, workers, threads)`` and ``session(adapter,
plan, *, client, workers, threads, progress, items)``, a context manager
yielding an object with ``run(pass_name, work, *, deadline=None)``; adding one
is that module and a line in ``DRIVERS``.
"""

import importlib
from typing import NamedTuple

from .blocks import Estimates, thread_count, validate_threads


class Entry(NamedTuple):
    """A registered driver: its module (imported when a check asks for it) and
    the package whose client objects it runs on (None: it runs without one)."""

    module: str
    clients: str = None


#: Every driver, by kind.
DRIVERS = {
    "local": Entry("fastcheck.drivers.local"),
    "dask": Entry("fastcheck.drivers.dask", clients="distributed"),
    # Chosen by the check for a long Python cost (pool.chosen), never by a client.
    "pool": Entry("fastcheck.drivers.pool"),
}
#: The kind that starts a cluster of its own for ``workers=N``, and that is asked
#: to make sense of a client no driver claims (its ``validate`` says what it takes).
CLUSTER = "dask"


def kind(client=None, workers=None):
    """The kind of driver (a key of ``DRIVERS``) for ``client`` and ``workers``."""
    if client is None:
        return "local" if workers is None else CLUSTER
    home = type(client).__module__
    for name, entry in DRIVERS.items():
        if entry.clients and (home == entry.clients or home.startswith(entry.clients + ".")):
            return name
    return CLUSTER


def driver_module(client=None, workers=None):
    """The module of the driver for ``client`` and ``workers``, imported."""
    return importlib.import_module(DRIVERS[kind(client, workers)].module)


def validate_cluster(client, workers, threads):
    """``OptionError`` unless ``client``, ``workers`` and ``threads`` go together
    for the driver they choose."""
    driver_module(client, workers).validate(client, workers, threads)


def driver(adapter, plan, *, client=None, workers=None, threads=None, progress=None,
           items=None):
    """The driver for a check's options, to be entered: it runs ``plan``'s engine
    (from ``plan`` it reads only ``layout``, ``engine``, ``method``, ``j0`` and
    ``seconds_per_coordinate``). ``items``, when known, is how many items its
    first pass runs: a local run expected to take less than
    ``local.SERIAL_SECONDS`` runs on one thread."""
    return driver_module(client, workers).session(
        adapter, plan, client=client, workers=workers, threads=threads, progress=progress,
        items=items)


__all__ = ["CLUSTER", "DRIVERS", "Entry", "Estimates", "driver", "driver_module", "kind",
           "thread_count", "validate_cluster", "validate_threads"]

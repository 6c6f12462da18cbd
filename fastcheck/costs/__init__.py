"""Cost adapters: one per kind of cost a check accepts.

``adapt(cost, params, args)`` asks each adapter in ``ADAPTERS`` whether it
knows the cost and builds the first that does. A new kind of cost is a new
adapter class added to that list; nothing else in the package changes.
"""

from ..errors import InputTypeError
from .base import ENGINES, CostAdapter, cost_value, refuse_masked_data
from .jit import JitCost, JitCostAdapter, jit_cost
from .model import ModelAdapter
from .python import PythonCostAdapter

#: Most specific first: the Python adapter takes any callable.
ADAPTERS = (ModelAdapter, JitCostAdapter, PythonCostAdapter)


def adapt(cost, params, args):
    """The adapter for ``cost``, with its layout, theta and data prepared."""
    if not callable(cost):
        raise InputTypeError(f"cost must be callable, got {type(cost).__name__}")
    refuse_masked_data(args)
    for adapter in ADAPTERS:
        if adapter.accepts(cost):
            return adapter(cost, params, args)
    raise InputTypeError(f"fastcheck does not know how to check a {type(cost).__name__}")


__all__ = ["ADAPTERS", "ENGINES", "CostAdapter", "JitCost", "adapt", "cost_value", "jit_cost"]

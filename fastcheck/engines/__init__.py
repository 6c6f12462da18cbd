"""Engines: how one block of coordinates gets its derivative estimates.

An engine is built by a cost adapter for one check (one method, one number of
threads) and then asked ``engine.block(idx, h) -> Block``: estimates for flat
indices ``idx`` (n,) with steps ``h`` (n,), together with everything the block
learned (Richardson's D(h) - D(h/2), kink flags). Blocks are pure: they depend
only on the engine's construction and their arguments, keep nothing between
calls and never touch the caller's arrays, so a driver may run them in any
order, on any thread, or in another process that built its own engine.
"""

from .base import Block, Engine, METHOD_CODES
from .generic import GenericEngine
from .layered import KinkWatched, LayeredEngine
from .python import PythonEngine

__all__ = ["Block", "Engine", "METHOD_CODES", "GenericEngine", "LayeredEngine",
           "KinkWatched", "PythonEngine"]

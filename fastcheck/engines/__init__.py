"""Engines: how one block of coordinates gets its derivative estimates.

An engine is built by a cost adapter for one check (one method, one number of
threads) and then asked ``engine.block(idx, h) -> Block``: estimates for flat
indices ``idx`` (n,) with steps ``h`` (n,), together with everything the block
learned (kink flags), and ``engine.slopes(idx, h)``, the closer look's
one-sided slopes. Passes are pure: they depend
only on the engine's construction and their arguments, keep nothing between
calls and never touch the caller's arrays, so a driver may run them in any
order, on any thread, or in another process that built its own engine.
"""

from .base import Block, Closer, Engine
from .generic import GenericEngine
from .layered import KinkWatched, LayeredEngine
from .python import PythonEngine

__all__ = ["Block", "Closer", "Engine", "GenericEngine", "LayeredEngine",
           "KinkWatched", "PythonEngine"]

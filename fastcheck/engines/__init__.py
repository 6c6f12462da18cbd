"""Engines: how one block of work gets its values.

An engine is built by a cost adapter for one check (one method, one number of
threads) and then asked for its passes: ``engine.block(idx, h) -> Block``,
estimates for flat indices ``idx`` (n,) with steps ``h`` (n,), together with
everything the block learned (kink flags); ``engine.slopes(idx, h)``, the
closer look's one-sided slopes; ``engine.points(ptr, idx, delta)``, J at theta
+- delta along signed subset directions (``fastcheck.locate``). Each pass has
a record in ``passes.PASSES`` that tells a driver how to run it. Passes are
pure: they depend only on the engine's construction and their arguments, keep
nothing between calls and never touch the caller's arrays, so a driver may
run them in any order, on any thread, or in another process that built its
own engine. Each loop reads the method's stencil (``planning.methods``).
"""
from .base import Block, Closer, Engine
from .generic import GenericEngine
from .layered import KinkWatched, LayeredEngine
from .python import PythonEngine

__all__ = ["Block", "Closer", "Engine", "GenericEngine", "LayeredEngine",
           "KinkWatched", "PythonEngine"]

"""A built-in model (``fastcheck.models``): compiled forward passes and layers."""

import numpy as np

from ..engines import GenericEngine, KinkWatched, LayeredEngine, PythonEngine
from ..errors import CostError, DataError
from ..kernels import mlp
from ..models import MLP
from .base import PASS_THROUGH, CostAdapter, cost_value, note_where


class ModelAdapter(CostAdapter):
    """An ``MLP`` and its data (X, Y): every engine, the layered one first.

    Models with ReLU-type units get the layered kernel's kink flags on every
    engine: the whole-forward engines cannot see which pre-activations a step
    moves across zero.
    """

    kind = "built-in model"
    engines = ("layered", "generic", "python")

    def __init__(self, model, params, args):
        super().__init__()
        if len(args) != 2:
            raise DataError(f"a built-in model is checked with its data: check(model, params, "
                            f"grads, X, Y); got {len(args)} data arguments")
        self.model = model
        self.layout = model.layout
        self.theta = model.flatten(params)
        self.X, self.Y = model.data(*args)

    @classmethod
    def accepts(cls, cost):
        return isinstance(cost, MLP)

    def evaluate(self, theta, where):
        try:
            if theta.dtype.kind == "c":
                value = self.model.cost_flat_complex(theta, self.X.astype(np.complex128), self.Y)
            else:
                value = self.model.cost_flat(theta, self.X, self.Y)
        except PASS_THROUGH as exc:
            note_where(exc, where)
            raise
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        return cost_value(value, where, theta.dtype.kind == "c")

    def _watched(self, engine, method):
        """Whether ``engine`` gets the layered kernel's kink flags."""
        return engine != "layered" and method != "complex" and self.model.has_kinks

    def scratch_bytes(self, engine, method, rows):
        P, m = self.layout.size, self.X.shape[1]
        total = {"python": P * (16 if method == "complex" else 8),
                 "generic": GenericEngine.scratch_bytes(P, rows, method)}.get(engine, 0)
        if engine == "layered" or self._watched(engine, method):
            total += LayeredEngine.scratch_bytes(self.model.sizes, m, rows, method)
        return total

    def build(self, engine, method, rows):
        model = self.model
        if engine == "layered":
            return LayeredEngine(model, self.theta, self.X, self.Y, rows, method)
        if engine == "python":
            run = PythonEngine(self.evaluate, self.theta, self.layout, method)
        else:
            complex_step = method == "complex"
            fdata, idata = mlp.pack(model.sizes, model.acts, model._loss_code, model.l2,
                                    self.X, self.Y,
                                    np.complex128 if complex_step else np.float64)
            run = GenericEngine(mlp.packed_cost(complex_step), fdata, idata, self.theta, rows,
                                method)
        if self._watched(engine, method):
            run = KinkWatched(run, LayeredEngine(model, self.theta, self.X, self.Y, rows,
                                                 method))
        return run

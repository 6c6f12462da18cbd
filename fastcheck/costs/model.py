"""A built-in model (``fastcheck.models``): its NumPy cost for calls from Python,
its compiled cost and cached layers for the engines."""

import numpy as np

from ..engines import GenericEngine, KinkWatched, LayeredEngine, PythonEngine
from ..errors import DataError
from ..kernels import mlp
from ..planning.methods import method_record
from ..models import MLP
from .calling import translated
from .base import CostAdapter, cost_value


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
        with translated(where):
            if theta.dtype.kind == "c":
                value = self.model.cost_flat_complex(theta, self.X.astype(np.complex128), self.Y)
            else:
                value = self.model.cost_flat(theta, self.X, self.Y)
        return cost_value(value, where, theta.dtype.kind == "c")

    def _watched(self, engine, method):
        """Whether ``engine`` gets the layered kernel's kink flags."""
        return (engine != "layered" and not method_record(method).complex_step
                and self.model.has_kinks)

    def scratch_bytes(self, engine, method, threads):
        P, m = self.layout.size, self.X.shape[1]
        total = {"python": P * method_record(method).scalar_bytes,
                 "generic": GenericEngine.scratch_bytes(P, threads, method)}.get(engine, 0)
        if engine == "layered" or self._watched(engine, method):
            total += LayeredEngine.scratch_bytes(self.model.sizes, m, threads, method)
        return total

    def build(self, engine, method, threads):
        model = self.model
        if engine == "layered":
            return LayeredEngine(model, self.theta, self.X, self.Y, threads, method)
        if engine == "python":
            run = PythonEngine(self.evaluate, self.theta, self.layout, method)
        else:
            complex_step = method_record(method).complex_step
            fdata, idata = mlp.pack(model.sizes, model.acts, model.loss_code, model.l2,
                                    self.X, self.Y,
                                    np.complex128 if complex_step else np.float64)
            run = GenericEngine(mlp.packed_cost(complex_step), fdata, idata, self.theta, threads,
                                method)
        if self._watched(engine, method):
            run = KinkWatched(run, LayeredEngine(model, self.theta, self.X, self.Y, threads,
                                                 method))
        return run

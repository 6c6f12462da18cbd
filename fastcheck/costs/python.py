"""A plain Python cost ``cost(params_dict, *args)``: the user's own code."""

from ..engines import PythonEngine
from ..errors import CostError
from ..layout import Layout
from .base import CostAdapter, cost_value


class PythonCostAdapter(CostAdapter):
    """The user's callable over a dict of parameters, evaluated from Python.

    The cost sees read-only views of fastcheck's own buffer: a cost that writes
    to its parameters fails loudly instead of corrupting the check.
    """

    kind = "Python cost"
    engines = ("python",)

    def __init__(self, cost, params, args):
        super().__init__()
        self.func, self.args = cost, args
        self.layout = Layout.from_params(params)
        self.theta = self.layout.flatten(params)

    @classmethod
    def accepts(cls, cost):
        return callable(cost)

    def refusal(self, name):
        if name == "generic":
            return ("engine='generic' needs a compiled cost: a built-in model "
                    "(fastcheck.models) or a cost decorated with @fastcheck.jit_cost "
                    "(signature cost(theta, X, Y) -> float); or use engine='python'")
        if name == "layered":
            return ("engine='layered' knows only the built-in models (fastcheck.models); "
                    "use engine='generic' or 'python' for this cost")
        return super().refusal(name)

    def evaluate(self, theta, where):
        view = theta.view()
        view.flags.writeable = False
        try:
            value = self.func(self.layout.unflatten(view), *self.args)
        except Exception as exc:
            raise CostError(f"the cost raised {type(exc).__name__} {where}: {exc}") from exc
        return cost_value(value, where, theta.dtype.kind == "c")

    def scratch_bytes(self, engine, method, rows):
        return self.layout.size * (16 if method == "complex" else 8)

    def build(self, engine, method, rows):
        return PythonEngine(self.evaluate, self.theta, self.layout, method)

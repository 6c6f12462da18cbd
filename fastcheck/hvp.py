"""``check_hvp``: check a Hessian-vector product against central differences of
the user's own gradient.

For a cost J(params) with gradient g = grad(params), the Hessian-vector product
along v is the derivative of g along v:

    H v = (g(params + h v) - g(params - h v)) / 2h + O(h^2)

which is a forward-mode rule of the function ``grad``: ``check_hvp`` hands the
flattened gradient and the flattened product to ``fastcheck.jvp``, so the same
steps, measured noise, closer look and verdicts apply, and a drawn v restricted
to one parameter tensor at a time says which block of v shows the mistake. The
result adds a per-tensor table of the *product*: the tensors of H v that are
wrong (a Newton step's ``dW1`` block), with their worst entry.

The gradient is the user's, so a wrong gradient makes a correct HVP look wrong:
check the gradient first (``fc.check``).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import CostError, FastcheckError, GradientError, InputTypeError, OptionError
from .jvp import OPTIONS, check_jvp
from .planning.layout import Layout, as_numeric_array, first_nonfinite, format_index
from .report.html import report_html, table_html
from .report.result import TensorRow
from .report.tangents import REPORT_LOCATED, JvpResult
from .verdict.norms import relative_difference
from .verdict.rules import KINK, MISTAKE, UNRESOLVED


def check_hvp(grad, params, hvp, *args, n=1, seed=0, **options):
    """Check ``hvp(v)`` against central differences of ``grad`` along drawn ``v``.

    Parameters
    ----------
    grad : callable
        ``grad(params, *args)``, the gradient of the cost (the user's backward
        pass): a dict keyed ``dW`` or ``W`` like ``params``, or a tuple in their
        order.
    params : mapping of str -> array_like
    hvp : callable or array
        ``hvp(v)`` for ``v`` a dict like ``params`` (a copy), returning H v in
        the form ``grad`` returns; or the dense Hessian, a (P, P) array over the
        parameters flattened in order (C order within each tensor).
    *args
        Passed to ``grad`` after ``params`` (data, labels, hyperparameters).
    n, seed : int
        How many directions v to draw (``fastcheck.jvp.tangent``), and their seed.
    **options
        eps, threshold, only, exclude, as for ``fastcheck.check_jvp``.

    Returns
    -------
    HvpResult
        ``suspects``: the tensors of the product H v that are wrong; ``blocks``:
        the blocks of v along which it is; rows per block of v, a row per tensor
        of the product, the located entries.
    """
    if not callable(grad):
        raise InputTypeError(f"grad must be the gradient function grad(params, *args), got "
                             f"{type(grad).__name__}")
    layout = Layout.from_params(params)
    rule = hvp_rule(hvp, layout)
    gradient = flat_gradient_function(grad, layout)
    foreign = sorted(set(options) - set(OPTIONS))
    if foreign:
        raise OptionError(f"check_hvp takes {', '.join(o + '=' for o in OPTIONS)}; got "
                          f"{', '.join(o + '=' for o in foreign)}")
    res = check_jvp(gradient, params, rule, *args, n=n, seed=seed, **options)
    return as_hvp_result(res, layout)


def flat_gradient_function(grad, layout):
    """``gradient(p, *args)``: the user's ``grad`` as a flat (P,) vector, what it
    raises a ``CostError`` naming ``grad``."""

    def gradient(p, *rest):
        try:
            value = grad(p, *rest)
        except Exception as exc:
            raise CostError(f"grad raised {type(exc).__name__}: {exc}") from exc
        return flat_gradient(value, layout, "grad(params)")

    return gradient


def hvp_rule(hvp, layout):
    """``hvp`` (the rule ``hvp(v)`` or the dense (P, P) Hessian) as a function of
    ``v`` ({name: array} over ``layout``) returning H v as one (P,) float64
    vector, after refusing, by name, an ``hvp`` of the wrong kind or shape."""
    if isinstance(hvp, Mapping) or not (callable(hvp) or isinstance(hvp, (np.ndarray, list))):
        raise InputTypeError(f"hvp must be the rule hvp(v) -> H v or the dense Hessian as a "
                             f"({layout.size}, {layout.size}) array, got {type(hvp).__name__}")
    if callable(hvp):
        def rule(v):
            try:
                product = hvp({name: v[name] for name in layout.names})
            except FastcheckError:
                raise
            except Exception as exc:
                raise CostError(f"hvp(v) raised {type(exc).__name__}: {exc}") from exc
            return flat_gradient(product, layout, "hvp(v)")
    else:
        hessian = as_numeric_array(hvp, "hvp (the dense Hessian)", error=GradientError)
        if hessian.shape != (layout.size, layout.size):
            raise GradientError(f"hvp, the dense Hessian, has shape {hessian.shape} but there "
                                f"are {layout.size} parameters: it must be ({layout.size}, "
                                f"{layout.size}), over the parameters flattened in order")
        bad = first_nonfinite(hessian)
        if bad is not None:
            raise GradientError(f"hvp, the dense Hessian, is not finite at {bad}")
        hessian = hessian.astype(np.float64)

        def rule(v):
            return hessian @ np.concatenate([np.ravel(v[name]) for name in layout.names])
    return rule


def flat_gradient(value, layout, what):
    """A gradient-like result (a dict keyed ``dW`` or ``W``, or a tuple in the order of
    the parameters) as one (P,) float64 vector, or an error naming ``what``."""
    if isinstance(value, Mapping):
        parts = []
        for name, shape in zip(layout.names, layout.shapes):
            key = "d" + name if "d" + name in value else name
            if key not in value:
                raise GradientError(f"{what} has no entry for the parameter {name!r} (keyed "
                                    f"'d{name}' or '{name}')")
            parts.append(_part(value[key], shape, f"{what}[{key!r}]"))
    elif isinstance(value, (tuple, list)) and len(value) == len(layout.names):
        parts = [_part(v, shape, f"{what}[{k}]")
                 for k, (v, shape) in enumerate(zip(value, layout.shapes))]
    else:
        raise GradientError(f"{what} must be a dict like params (keyed 'dW' or 'W') or a tuple "
                            f"of {len(layout.names)} arrays in their order; got "
                            f"{type(value).__name__}")
    return np.concatenate(parts) if parts else np.zeros(0)


def _part(value, shape, what):
    array = as_numeric_array(value, what, error=GradientError)
    if array.shape != shape and not (array.size == 1 and int(np.prod(shape)) == 1):
        raise GradientError(f"{what} has shape {array.shape} but its parameter has shape "
                            f"{shape}")
    bad = first_nonfinite(array)
    if bad is not None:
        raise GradientError(f"{what} is not finite at {format_index(bad)}")
    return array.astype(np.float64).ravel()


def product_rows(res, layout):
    """A ``TensorRow`` per tensor of the product H v: the joint direction's figures
    over the tensor's entries, WRONG where any direction found a mistake in it."""
    if not res.rows:
        return []
    y, D, allowed, codes = res.elements[res.rows[0].name]
    worst_codes = np.max(np.stack([e[3] for e in res.elements.values()]), axis=0)
    rows = []
    for k, (name, shape) in enumerate(zip(layout.names, layout.shapes)):
        lo, hi = layout.offsets[k], layout.offsets[k + 1]
        seg = slice(lo, hi)
        error = np.abs(y[seg] - D[seg])
        codes_k = np.concatenate([e[3][seg] for e in res.elements.values()])
        status = ("WRONG" if (codes_k == MISTAKE).any() else
                  "unsure" if (codes_k == UNRESOLVED).any() else
                  "kinks" if (worst_codes[seg] == KINK).any() else "ok")
        worst = np.unravel_index(int(np.argmax(error)), shape) if shape else ()
        rows.append(TensorRow(name, tuple(shape), hi - lo, relative_difference(y[seg], D[seg]),
                              float(error.max(initial=0.0)), tuple(int(i) for i in worst),
                              int((codes[seg] == KINK).sum()), None,
                              float(allowed[seg].max(initial=0.0)), status))
    return rows


def as_hvp_result(res, layout):
    """``res`` (a ``JvpResult`` over the flattened gradient) as an ``HvpResult``:
    located entries named by product tensor, the product's per-tensor table."""
    located = []
    for along, index, value, estimate in res.located:
        flat = int(index[0]) if index else 0
        k = int(np.searchsorted(layout.offsets, flat, side="right")) - 1
        inner = np.unravel_index(flat - layout.offsets[k], layout.shapes[k]) \
            if layout.shapes[k] else ()
        located.append((layout.names[k], tuple(int(i) for i in inner), along, value, estimate))
    fields = {f: getattr(res, f) for f in res.__dataclass_fields__}
    fields.update(
        advice=ADVICE[res.verdict],
        engine_reason=res.engine_reason.replace("f is evaluated", "grad is evaluated").replace(
            "per tangent", "per direction"),
        notes=[note.replace("tangents drawn by fastcheck", "directions v drawn by fastcheck")
               for note in res.notes])
    return HvpResult(**fields, product=product_rows(res, layout), hvp_located=located)


ADVICE = {
    "pass": "the Hessian-vector product agrees with the central differences of the gradient "
            "within their error estimates.",
    "kinks": "the Hessian-vector product agrees with the central differences of the gradient; "
             "where a step crosses a kink it lies between the one-sided slopes.",
    "unsure": "some entries of H v could not be judged (see the notes): fastcheck cannot tell "
              "whether they are right. Try a larger eps or another seed.",
    "mistake": "the Hessian-vector product is wrong: start with the tensors marked WRONG and "
               "the entries located (or the gradient is: check it first with fc.check).",
}


@dataclass(frozen=True, repr=False)
class HvpResult(JvpResult):
    """What ``fastcheck.check_hvp`` found: a ``JvpResult`` of the gradient's
    forward rule, with ``product`` (a ``TensorRow`` per tensor of H v) and
    ``hvp_located`` ((tensor, index, block of v, hvp, estimate), worst first)."""

    product: list = field(default_factory=list, repr=False)
    hvp_located: list = field(default_factory=list, repr=False)

    @property
    def suspects(self):
        """The tensors of the product H v that are wrong."""
        return [row.name for row in self.product if row.status == "WRONG"]

    @property
    def blocks(self):
        """The blocks of v along which H v is wrong."""
        return JvpResult.suspects.fget(self)

    def to_dict(self):
        data = super().to_dict()
        data.update(kind="hvp", suspects=self.suspects, blocks=self.blocks,
                    product=[row.to_dict() for row in self.product],
                    located=[[t, list(i), a, float(g), float(e)]
                             for t, i, a, g, e in self.hvp_located])
        data.pop("dot_product", None)
        data.pop("vjp_suspects", None)
        return data

    def head(self):
        lines = JvpResult.head(replace(self, located=[]))
        lines[1] = lines[1].replace("tangents of an output of shape",
                                    "directions v, a gradient of").replace(
            "1 tangent of an output of shape", "1 direction v, a gradient of")
        extra = []
        lines = [line for line in lines if not line.startswith("  wrong forward rule")]
        if self.suspects:
            extra.append(f"  wrong Hessian-vector product in: {', '.join(self.suspects)}"
                         f" (along v's blocks: {', '.join(self.blocks) or 'all'})")
        if self.hvp_located:
            n = len(self.hvp_located)
            extra.append(f"  located: {n} entr{'ies' if n != 1 else 'y'} of H v wrong"
                         + (f" (the {REPORT_LOCATED} worst shown)" if n > REPORT_LOCATED
                            else ""))
            extra += [f"    {t}{format_index(i)} along {a}: hvp {g: .4e}, estimate {e: .4e}"
                      for t, i, a, g, e in self.hvp_located[:REPORT_LOCATED]]
        return lines[:3] + extra + lines[3:]

    def entry(self, flat_index):
        """"W1[2, 3]": the entry of H v at ``flat_index`` ((k,) into the flat product)."""
        flat = int(flat_index[0]) if flat_index else 0
        offsets = np.cumsum([0] + [row.size for row in self.product])
        k = int(np.searchsorted(offsets, flat, side="right")) - 1
        row = self.product[k]
        inner = np.unravel_index(flat - offsets[k], row.shape) if row.shape else ()
        return row.name + format_index(tuple(int(i) for i in inner))

    def tables(self):
        out = [(TensorRow.HEADER, [row.cells() for row in self.product],
                [k for k, row in enumerate(self.product) if row.status == "WRONG"])]
        for header, cells, marked in JvpResult.tables(self):
            if header[0] == "tangent along":
                header = ("v along",) + header[1:]
                cells = [cell[:5] + (self.entry(row.worst_index),) + cell[6:]
                         for cell, row in zip(cells, self.rows)]
            out.append((header, cells, marked))
        return out

    def _repr_html_(self):
        tables = self.tables()
        html = report_html(self.head(), *tables[0])
        for header, cells, marked in tables[1:]:
            html = html[:-len("</div>")] + table_html(header, cells, marked) + "\n</div>"
        return html

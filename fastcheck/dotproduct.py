"""The dot-product test: a forward-mode rule against a reverse-mode one, with no
finite differences.

For every tangent t of the inputs and cotangent u of the output,
``<J t, u> == <t, J^T u>``: ``<jvp(t), u>`` must equal ``<t, vjp(u)>`` to
rounding. Checked per input (t moving that input only), within
``DOT_ULPS`` ulps (or ``threshold``, if larger) of
||jvp(t)|| ||u|| + ||t|| ||vjp(u)||, the Cauchy-Schwarz bound of both inner
products. Where the finite differences of f along t are at hand
(``fastcheck.jvp``), they say which rule is off.
"""

import numpy as np

from .errors import CostError, GradientError
from .planning.layout import as_numeric_array, first_nonfinite, format_index
from .report.tangents import DotRow
from .verdict.norms import norm
from .vjp import as_grads, cotangent

#: The dot-product test's rounding bound, in ulps of the coarsest precision, of
#: ||jvp(t)|| ||u|| + ||t|| ||vjp(u)|| (each inner product is within Cauchy-Schwarz
#: of that, and each rule rounds relative to the magnitudes flowing through it).
DOT_ULPS = 1000


def reverse_rule(vjp, us, shapes):
    """{name: float64 gradient} from ``vjp(*us)`` (copies of the cotangents, one
    per output), or an error naming what is wrong with it."""
    try:
        given = vjp(*(np.copy(u) for u in us))
    except Exception as exc:
        raise CostError(f"vjp(u) raised {type(exc).__name__}: {exc}") from exc
    grads = as_grads(given, shapes)
    out = {}
    for name, shape in shapes.items():
        key = "d" + name if "d" + name in grads else name
        if key not in grads:
            raise GradientError(f"vjp(u) has no gradient for the input {name!r} (keyed "
                                f"'d{name}' or '{name}')")
        array = as_numeric_array(grads[key], f"vjp(u)[{key!r}]", error=GradientError)
        if array.shape != shape:
            raise GradientError(f"vjp(u)[{key!r}] has shape {array.shape} but inputs[{name!r}] "
                                f"has shape {shape}; the gradient has its input's shape")
        bad = first_nonfinite(array)
        if bad is not None:
            raise GradientError(f"vjp(u)[{key!r}] is not finite at {key}{format_index(bad)}")
        out[name] = array.astype(np.float64)
    return out


def dot_rows(rule, vjp, outputs, outs, seed, j, threshold, grad_eps, estimates, names,
             joint, notes):
    """A ``DotRow`` per input: <jvp(t_x), u> against <t_x, vjp(u)_x> (u over every
    output of ``outs``, an ``OutputLayout``), and, with the
    finite differences of f along t_x (``estimates``: {name: (D, allowed, the
    JVP row's status)}), which
    rule is off where they disagree."""
    us = cotangent(outs.shapes, seed, j)  # as check_vjp draws them: one per output
    grads = reverse_rule(vjp, us, dict(rule.shapes))
    u = np.concatenate([np.ravel(np.asarray(u, dtype=np.float64)) for u in us])
    per_input = [(name, t, y) for name, t, y in outputs if name != joint or len(outputs) == 1]
    rows = []
    tol = max(threshold, DOT_ULPS * grad_eps)
    for name, t, y in per_input:
        forward = float(np.dot(y, u))
        reverse = float(sum(np.dot(t[k].ravel(), grads[k].ravel()) for k in t))
        tnorm = norm(np.concatenate([t[k].ravel() for k in t]))
        gnorm = norm(np.concatenate([grads[k].ravel() for k in t]))
        bound = tol * (norm(y) * norm(u) + tnorm * gnorm)
        status = "ok" if abs(forward - reverse) <= bound else "INCONSISTENT"
        wrong = "-" if status == "ok" else "?"
        if name in estimates:
            D, allowed, judged = estimates[name]
            # The JVP's row says whether the forward side is right (element by element,
            # kinks told from mistakes); the reverse side is then judged against the
            # same finite differences, projected on u, only where those were clean.
            truth, slack = float(np.dot(D, u)), float(np.dot(allowed, np.abs(u))) + bound
            reverse_off = abs(reverse - truth) > slack
            if judged == "WRONG":
                wrong = "both" if reverse_off or status == "ok" else "jvp"
            elif judged in ("ok", "kinks") and status != "ok":
                wrong = "vjp"
            if status == "ok" and wrong == "both":
                notes.append(f"jvp and vjp agree with each other for {name} but not with f's "
                             "finite differences: the same mistake is in both rules")
        rows.append(DotRow(name, forward, reverse, bound, status, wrong))
    if len(outputs) > 1 and not rule.can_split():
        notes.append("the dot-product test could only be taken over all inputs at once")
    return rows

"""``taylor_test``: a verdict on a gradient (and a Hessian-vector product) from the
rates at which Taylor remainders vanish, with no step to choose.

Named as pyadjoint names it (``taylor_test``, after the test of Farrell et al.),
the name people look for. Along a direction v, with steps h halving:

    r0(h) = |J(theta + h v) - J(theta)|                      falls as h   (rate 1)
    r1(h) = |J(theta + h v) - J(theta) - h <g, v>|           as h^2 when g is right
    r2(h) = |... - h^2 / 2 <v, H v>|                         as h^3 when H v is right

A wrong g leaves r1 falling as h only: the rate, log2(r(h) / r(h / 2)), is 1
where it should be 2. No step is right or wrong here; what limits the test is
rounding, which a remainder meets at small h (it stops falling). So a remainder
takes part only while it is above ``CLEAN`` times its rounding (the cost's
measured noise U, as ``fastcheck.check`` measures it, twice, and the rounding of
the products subtracted); the verdict reads the rates at the smallest such
steps, where the remainder's leading term rules: the order reached is a pass,
one order less a mistake, in between, or no clean steps at all, ``unsure``.

A kink. A ReLU whose pre-activation the segment crosses at distance h_c breaks
the rate above h_c only: below it the cost is smooth and the rate comes back
(the report says where). A kink at theta itself breaks it at every step; the
remainders along -v then tell it from a mistake: for a smooth cost they are
the same leading coefficient, for a kink they lie on either side of it (the
rule lies between the one-sided derivatives), as ``fastcheck.check`` tells a
kink from a mistake by its one-sided slopes.

Directions: one moving every tensor (seeded standard normal, each tensor's
entries scaled to its size), then the same draw restricted to each tensor, so
the report says which tensor drops the rate.
"""

import math
import time
from dataclasses import replace
from collections.abc import Mapping

import numpy as np

from .check import held, prepare
from .complexparams import has_complex
from .errors import CostError, OptionError, ParameterError
from .hvp import hvp_rule
from .planning.layout import as_numeric_array, first_nonfinite, format_index
from .planning.noise import measure
from .planning.sampling import chosen_tensors, validate_seed
from .planning.step import scale_floor
from .report.taylor import (ADVICE, NOT_JUDGED, Remainders, TaylorResult, TaylorRow, Verdict,
                            verdict_word, worst_status)
from .verdict import measured_noise
from .verdict.precision import GRAD_ULPS

#: A remainder takes part in a rate while it is above this many times its rounding
#: bound (which already holds U, ten times the measured noise): its rate is then
#: known to about 0.03.
CLEAN = 10.0
#: A rate within this of its order has reached it; within it of one order less, it
#: has dropped (a mistake, or a kink); anything else is in between (unsure).
REACHED = 0.3
#: The default steps: 2^-3 halved 23 times (down to 1.5e-8), in units of the
#: direction, whose entries are scaled to their tensors.
FIRST_STEP, STEP_COUNT = 2.0 ** -3, 24
#: Where a judged remainder is clean at fewer than 3 default steps, the steps are
#: doubled above the first at most this many times (up to 2^-3 * 2^6 = 8).
EXTEND = 6
#: Halving stops once every judged remainder has been at rounding this many steps
#: in a row, after one was clean.
STOP_AFTER = 3
#: A remainder at rounding at every step while the one below it is clean: the
#: cost is, to rounding, a polynomial along v, and the rule is right if an error of
#: this relative size in its term would have shown at the largest step.
EXACT = 1e-4
#: The remainder fit (``leading_fit``) of a rate caught between orders: over at most
#: this many of the smallest clean steps, passing when its leading coefficient is
#: within this many standard errors (in units of the rounding bounds) of zero.
FIT_STEPS, FIT_SIGMAS = 8, 3.0
#: Directions draw from their own stream: ``[seed, 0, DIRECTION_STREAM]``.
DIRECTION_STREAM = 2


def taylor_test(cost, params, grads, *args, hvp=None, direction=None, steps=None, seed=0,
                only=None, exclude=None):
    """The Taylor test of ``grads`` (and of ``hvp``) for ``cost`` at ``params``.

    Parameters
    ----------
    cost, params, grads, *args
        As for ``fastcheck.check``: ``cost(params, *args)`` a float, ``grads``
        keyed ``dW`` or ``W``.
    hvp : callable or array, optional
        ``hvp(v)``, the Hessian-vector product for ``v`` a dict like ``params``,
        returned as ``grads`` are; or the dense (P, P) Hessian. Adds r2, whose
        rate is 3 when it is right.
    direction : mapping, optional
        {name: array of the parameter's shape}; tensors left out do not move.
        Default: drawn, standard normal times each tensor's size.
    steps : sequence of float, optional
        Decreasing positive steps h (at least 3). Default ``FIRST_STEP`` halved
        ``STEP_COUNT - 1`` times, stopping early once rounding rules.
    seed : int
        The draw of the direction and of the noise measurement's line.
    only, exclude : str or iterable of str, optional
        The tensors the directions move, as for ``fastcheck.check``.

    Returns
    -------
    TaylorResult
        A ``TaylorRow`` per direction (the joint one, then one per tensor) with
        the measured rates and verdicts, the remainders table of each
        (``res.tables``), ``suspects`` (the tensors that drop a rate).
    """
    if has_complex(params):
        raise ParameterError("taylor_test checks real parameters; for complex ones, check the "
                             "gradient with fc.check (z.real and z.imag, complex_grad=...)")
    default_steps = steps is None
    steps = validate_steps(steps)
    validate_seed(seed)
    adapter, g = prepare(cost, params, grads, args)
    layout = adapter.layout
    kept = chosen_tensors(layout, only, exclude)
    rule = None if hvp is None else hvp_rule(hvp, layout)
    grad_eps = coarsest_eps(grads)
    start = time.perf_counter()
    with held(adapter):
        theta = adapter.theta
        counted = Counted(adapter)
        j0 = counted(theta, "at the given parameters")
        U, notes = cost_noise(counted, theta, j0, adapter.value_eps, seed)
        directions = chosen_directions(layout, theta, direction, kept, seed)
        rows = []
        for name, shape, v in directions:
            hv = None if rule is None else rule({n: x.copy()
                                                 for n, x in layout.unflatten(v).items()})
            rows.append(run_direction(counted, theta, j0, g, v, hv, name, shape, steps, U,
                                      grad_eps, notes, extend=default_steps))
    notes = list(adapter.notes) + notes + direction_notes(rows, direction, seed)
    verdict = verdict_word([r.status for r in rows])
    shortfall = max([r.shortfall for r in rows], default=0.0)
    return TaylorResult(
        difference=shortfall, threshold=REACHED, passed=verdict in ("pass", "kinks"),
        verdict=verdict, advice=ADVICE[verdict], layout=layout, rows=rows, noise=U,
        evaluations=counted.count, seconds=time.perf_counter() - start, notes=notes,
        orders=(2, 3) if rule is not None else (2,), seed=seed,
        engine=counted.engine,
        engine_reason=("the cost is evaluated as it is, once per step and direction "
                       "(a few hundred evaluations: nothing to compile)" if counted.python
                       else "the cost's compiled function, once per step and direction"))


class Counted:
    """The adapter's evaluation of J at a flat theta, counted; ``python`` says
    whether it ran the user's Python (a compiled cost evaluates through its
    ``fast_evaluate``)."""

    def __init__(self, adapter):
        self.adapter, self.count = adapter, 0
        if adapter.kind == "jit cost":  # compiled always, as its author asked (cached)
            adapter.compile(False)
        # A Python cost runs compiled only if this process already holds it compiled
        # (a few hundred evaluations do not pay for a compile); a built-in model runs
        # its compiled kernel.
        self.engine = ("generic" if getattr(adapter, "compiled", None) else
                       "layered" if adapter.kind == "built-in model" else "python")
        self.python = self.engine == "python"

    def __call__(self, theta, where):
        self.count += 1
        return self.adapter.fast_evaluate(theta, where)


def validate_steps(steps):
    """The steps as a (K,) float64 array: the default, or the caller's, refused by
    name unless they are at least 3 finite positive decreasing numbers."""
    if steps is None:
        return FIRST_STEP / 2.0 ** np.arange(STEP_COUNT)
    array = as_numeric_array(steps, "steps", error=OptionError).astype(np.float64)
    if array.ndim != 1 or array.size < 3:
        raise OptionError(f"steps must be a sequence of at least 3 steps h (a rate needs two, "
                          f"a verdict two rates), got shape {array.shape}")
    if first_nonfinite(array) is not None or (array <= 0).any() or (np.diff(array) >= 0).any():
        raise OptionError(f"steps must be finite, positive and decreasing (h0 > h1 > ...), "
                          f"got {array.tolist()}")
    return array


def coarsest_eps(grads):
    """The machine epsilon of the coarsest float array among ``grads`` (a float32
    backward pass rounds its products more than float64)."""
    eps = [float(np.finfo(v.dtype).eps) for v in (grads.values() if isinstance(grads, Mapping)
                                                  else ()) if isinstance(v, np.ndarray)
           and v.dtype.kind == "f"]
    return max(eps + [float(np.finfo(np.float64).eps)])


def cost_noise(counted, theta, j0, value_eps, seed):
    """(U, notes): how well J is known near theta, measured as ``fastcheck.check``
    measures it (``planning.noise.measure`` on a random line)."""
    floor = scale_floor(theta)
    measured = measure(lambda t: counted(t, "on the noise line"), theta, j0,
                       np.maximum(floor, np.abs(theta)), seed)
    U, notes = measured_noise(j0, value_eps, measured)
    return max(U, float(np.finfo(np.float64).tiny)), list(notes)


def chosen_directions(layout, theta, direction, kept, seed):
    """[(row name, shape, v (P,))]: the joint direction over the ``kept`` tensors,
    then, for several, the same draw restricted to each of them."""
    if direction is None:
        rng = np.random.default_rng([seed, 0, DIRECTION_STREAM])
        floor = scale_floor(theta)
        v = np.zeros(layout.size)
        for k in kept:
            span = layout.span(k)
            size = max(floor, float(np.max(np.abs(theta[span]), initial=0.0)))
            v[span] = rng.standard_normal(span.stop - span.start) * size
    else:
        v = given_direction(direction, layout, kept)
    moved = [k for k in kept if np.any(v[layout.span(k)])]
    names = [layout.names[k] for k in moved]
    if len(moved) == 1:
        return [(names[0], layout.shapes[moved[0]], v)]
    out = [("all" if "all" not in names else "(all)", tuple(names), v)]
    for k in moved:
        part = np.zeros_like(v)
        part[layout.span(k)] = v[layout.span(k)]
        out.append((layout.names[k], layout.shapes[k], part))
    return out


def given_direction(direction, layout, kept):
    """The caller's ``direction`` as a (P,) vector over the ``kept`` tensors, or an
    ``OptionError`` naming the entry that is not a parameter, of the wrong shape,
    not finite, or a direction that moves nothing."""
    if not isinstance(direction, Mapping):
        raise OptionError(f"direction must be a mapping {{parameter name: array}}, got "
                          f"{type(direction).__name__}")
    v = np.zeros(layout.size)
    for name, value in direction.items():
        if name not in layout.names:
            raise OptionError(f"direction names {name!r}, which is not a parameter; the "
                              f"parameters are {', '.join(map(repr, layout.names))}")
        k = layout.names.index(name)
        array = as_numeric_array(value, f"direction[{name!r}]", error=OptionError)
        if array.shape != layout.shapes[k]:
            raise OptionError(f"direction[{name!r}] has shape {array.shape} but params"
                              f"[{name!r}] has shape {layout.shapes[k]}")
        bad = first_nonfinite(array)
        if bad is not None:
            raise OptionError(f"direction[{name!r}] is not finite at {name}{format_index(bad)}")
        if k in kept:
            v[layout.span(k)] = array.astype(np.float64).ravel()
    if not np.any(v):
        raise OptionError("direction is zero on every tensor checked: J does not move along "
                          "it; give a nonzero direction")
    return v


def run_direction(counted, theta, j0, g, v, hv, name, shape, steps, U, grad_eps, notes,
                  extend=False):
    """The ``TaylorRow`` of direction ``v``: the remainders at each step, then a
    ``Verdict`` per judged order (2 for the gradient, 3 for H v). ``extend``: the
    steps are the default ones, which may grow (``EXTEND``) where they see too little."""
    d1 = float(np.dot(g, v))
    d2 = None if hv is None else float(np.dot(v, hv))
    # What the subtracted terms may be off by: each product rounds relative to the
    # magnitudes summed (a float32 gradient to its own precision).
    s1 = GRAD_ULPS * grad_eps * float(np.dot(np.abs(g), np.abs(v)))
    s2 = None if hv is None else GRAD_ULPS * grad_eps * float(np.dot(np.abs(v), np.abs(hv)))
    orders = (2,) if hv is None else (2, 3)
    signed, noise, done, failure = [], [], [], None
    quiet, seen = 0, False
    for h in steps:
        try:
            value = counted(theta + h * v, f"at theta + h v along {name} (h = {h:.3g})")
        except CostError as exc:  # off the cost's domain at a large step: that step only
            if seen or h <= steps[-1] * 4:
                raise
            failure = failure or exc
            signed.append((np.nan,) * (1 + len(orders)))
            noise.append((np.inf,) * (1 + len(orders)))
            done.append(h)
            continue
        r = terms(value - j0, h, d1, d2)
        e = rounding(h, U, s1, s2)
        signed.append(r)
        noise.append(e)
        done.append(h)
        clean = [abs(r[p - 1]) > CLEAN * e[p - 1] for p in orders]
        seen = seen or any(clean)
        quiet = 0 if any(clean) else quiet + 1
        if seen and quiet >= STOP_AFTER:
            break
    if failure is not None:
        notes.append(f"along {name}, the cost failed at the largest steps ({failure}); those "
                     "steps are left out")
    elif extend:
        # A direction along which J barely curves (a bias the cost hardly feels, a
        # float32 cost's rounding) leaves a remainder at rounding at every default
        # step: larger ones, doubling, until each judged remainder is clean at 3.
        larger = done[0]
        for _ in range(EXTEND):
            if all(sum(abs(r[p - 1]) > CLEAN * e[p - 1] for r, e in zip(signed, noise)) >= 3
                   for p in orders):
                break
            larger *= 2.0
            try:
                value = counted(theta + larger * v,
                                f"at theta + h v along {name} (h = {larger:.3g})")
            except CostError:
                break
            signed.insert(0, terms(value - j0, larger, d1, d2))
            noise.insert(0, rounding(larger, U, s1, s2))
            done.insert(0, larger)
    h = np.array(done)
    signed, noise = np.array(signed), np.array(noise)
    table = Remainders(h, np.abs(signed), noise, rates(h, np.abs(signed)))
    other_side = OtherSide(counted, theta, j0, v, d1, d2, name)
    verdicts = []
    for p in orders:
        if p == 3 and verdicts[0].status in ("WRONG", "kinks"):
            why = ("the gradient is wrong along it" if verdicts[0].status == "WRONG" else
                   "J has a kink at theta along it: no second derivative to compare")
            verdicts.append(Verdict(NOT_JUDGED, float("nan"), None, None,
                                    f"not judged: {why}", order=3))
            continue
        top = d1 if p == 2 else d2
        verdicts.append(replace(judge_order(h, signed[:, p - 1], noise[:, p - 1],
                                            signed[:, p - 2], noise[:, p - 2], p, top,
                                            other_side), order=p))
    status = worst_status([vd.status for vd in verdicts])
    return TaylorRow(name, shape, d1, d2, verdicts, table, status)


def terms(change, h, d1, d2):
    """The signed remainders (r0, r1[, r2]) at step h for J(theta + h v) - J(theta)
    = ``change``."""
    r1 = change - h * d1
    return (change, r1) if d2 is None else (change, r1, r1 - 0.5 * h * h * d2)


def rounding(h, U, s1, s2):
    """The rounding bounds of (r0, r1[, r2]) at step h: J at two points, each known
    to U, and the rounding of the terms subtracted."""
    e0 = 2.0 * U
    e1 = e0 + h * s1
    return (e0, e1) if s2 is None else (e0, e1, e1 + 0.5 * h * h * s2)


def rates(h, r):
    """(K - 1, orders) observed rates log(r_k / r_{k+1}) / log(h_k / h_{k+1})."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(r[:-1] / r[1:]) / np.log(h[:-1] / h[1:])[:, None]


class OtherSide:
    """The remainders along -v, evaluated on demand (only where a rate dropped),
    for telling a kink at theta from a mistake."""

    def __init__(self, counted, theta, j0, v, d1, d2, name):
        self.counted, self.theta, self.j0, self.v = counted, theta, j0, v
        self.d1, self.d2, self.name, self.cache = d1, d2, name, {}

    def signed(self, h, p):
        if h not in self.cache:
            value = self.counted(self.theta - h * self.v,
                                 f"at theta - h v along {self.name} (h = {h:.3g})")
            self.cache[h] = terms(value - self.j0, -h, self.d1, self.d2)
        return self.cache[h][p - 1]


def clean_run(r, e):
    """Indices of the last run of consecutive steps whose remainder is above
    ``CLEAN`` times its rounding (empty if none)."""
    clean = np.abs(r) > CLEAN * e
    idx = np.flatnonzero(clean)
    if idx.size == 0:
        return idx
    end = idx[-1]
    begin = end
    while begin > 0 and clean[begin - 1]:
        begin -= 1
    return np.arange(begin, end + 1)


def judge_order(h, r, e, lower, lower_e, p, top, other_side):
    """The ``Verdict`` of the remainder of order p (signed ``r``, rounding bounds
    ``e``, over steps ``h``); ``lower`` is the remainder one order down (for a
    remainder at rounding everywhere), ``top`` the rule's term (<g, v> or
    <v, Hv>), ``other_side`` the remainders along -v."""
    run = clean_run(r, e)
    if run.size < 2:
        return no_rate(h, r, e, lower, lower_e, p, top, run)
    observed = rates(h[run], np.abs(r[run])[:, None])[:, 0]
    tail = observed[-2:]
    rate = float(tail[-1])
    clean = (float(h[run[0]]), float(h[run[-1]]))
    early = ""
    # Rate p - 1 at the larger steps only: the segment crosses a kink there (below the
    # kink's distance J is smooth again), or higher-order terms cancel the leading one.
    dropped = observed[:-2] <= p - 1 + REACHED
    if observed.size > 2 and dropped.any():
        last = int(np.flatnonzero(dropped)[-1])
        early = (f"the rate is below {p} at steps above {h[run[last + 1]]:.2g} (a kink the "
                 "segment crosses, or higher-order terms), and reaches it below")
    if (tail >= p - REACHED).all():
        return Verdict("ok", rate, clean, None, early or None)
    if not ((tail >= p - 1 - REACHED) & (tail <= p - 1 + REACHED)).all():
        # In between: the remainder's terms of orders p and p + 1 cancel near these
        # steps, or the rule's error is about as small as they can see. The signed
        # remainder fitted as a h^(p-1) + b h^p + c h^(p+1) + d h^(p+2) over the
        # smallest clean steps says which: a consistent with 0 passes.
        window = slice(max(run[0], run[-1] + 1 - FIT_STEPS), None)
        fitted = leading_fit(h[window], r[window], e[window], p)
        if fitted is not None and abs(fitted[0]) <= FIT_SIGMAS * fitted[1]:
            return Verdict("ok", rate, clean, None,
                           f"the rate is {rate:.2f} at the smallest clean steps (higher-order "
                           f"terms cancel there); the remainder's fit gives the rule's term an "
                           f"error of {fitted[0] * math.factorial(p - 1):.2g} +- "
                           f"{fitted[1] * math.factorial(p - 1):.2g}, none")
        return Verdict("unsure", rate, clean, None,
                       f"the rate is {rate:.2f} at the smallest clean steps, between {p - 1} "
                       f"and {p}: the error is about as small as these steps can see (try "
                       "steps=... finer, or fc.check)")
    # Rate p - 1: the rule's term is off, or J has a kink at theta. The leading
    # coefficient on each side, R(h) / h^(p-1) and R(-h) / (-h)^(p-1): equal for a
    # smooth J, on either side of zero for a kink the rule lies inside.
    ha, hb = float(h[run[-2]]), float(h[run[-1]])
    plus = [float(r[run[-2]]) / ha ** (p - 1), float(r[run[-1]]) / hb ** (p - 1)]
    minus = [other_side.signed(ha, p) / (-ha) ** (p - 1),
             other_side.signed(hb, p) / (-hb) ** (p - 1)]
    slack = (2 * CLEAN * float(e[run[-1]]) / hb ** (p - 1) + abs(plus[0] - plus[1])
             + abs(minus[0] - minus[1]))
    a, b = plus[1], minus[1]
    coefficient = a * math.factorial(p - 1)
    smooth = abs(a - b) <= slack + 0.1 * max(abs(a), abs(b))
    between = a * b < 0 or min(abs(a), abs(b)) <= slack
    if not smooth and between:
        return Verdict("kinks", rate, clean, coefficient,
                       f"rate {p - 1} on both sides of theta, with the rule between the "
                       f"one-sided derivatives ({_side(a, p, top)} and {_side(b, p, top)}): a "
                       "kink at theta, not a mistake")
    return Verdict("WRONG", rate, clean, coefficient,
                   f"the {'gradient' if p == 2 else 'Hessian-vector product'} along it is "
                   f"{top:.6g}, the cost's {'slope' if p == 2 else 'curvature'} "
                   f"{top + coefficient:.6g}" + ("" if smooth else
                                                  f" on one side, {_side(b, p, top)} on the "
                                                  "other (outside both)"))


def leading_fit(h, r, e, p):
    """(a, its standard error) of the signed remainders ``r`` at steps ``h`` (the last
    clean ones and the steps after them, at rounding, which bound a as well; each
    weighted by its rounding bound ``e``) fitted as a h^(p-1) + b h^p + c h^(p+1) +
    d h^(p+2); None with too few steps for it or a fit that leaves residuals
    beyond the rounding (not a polynomial there: a kink)."""
    keep = np.isfinite(r)
    h, r, e = h[keep], r[keep], e[keep]
    terms = min(4, h.size - 2)
    if terms < 3:
        return None
    scale = h[0]  # the basis in units of the largest step, for a well-conditioned fit
    basis = np.stack([(h / scale) ** (p - 1 + j) for j in range(terms)], axis=1) / e[:, None]
    coef, *_ = np.linalg.lstsq(basis, r / e, rcond=None)
    residual = basis @ coef - r / e
    if np.max(np.abs(residual), initial=0.0) > 1.0:
        return None
    cov = np.linalg.pinv(basis.T @ basis)
    return coef[0] / scale ** (p - 1), float(np.sqrt(max(cov[0, 0], 0.0))) / scale ** (p - 1)


def _side(a, p, top):
    """A one-sided derivative from its leading coefficient ``a``."""
    return f"{top + a * math.factorial(p - 1):.6g}"


def no_rate(h, r, e, lower, lower_e, p, top, run):
    """The ``Verdict`` of a remainder clean at fewer than two steps: a pass when the
    remainder below it is clean and an error of ``EXACT`` relative size in the
    rule's term would have shown at the largest step (J is, to rounding, a
    polynomial of degree p - 1 along v); else unsure."""
    valid = np.flatnonzero(np.isfinite(r))
    if run.size == 0 and valid.size and abs(lower[valid[0]]) > CLEAN * lower_e[valid[0]]:
        h0 = float(h[valid[0]])
        hidden = CLEAN * float(e[valid[0]]) / h0 ** (p - 1) * math.factorial(p - 1)
        if hidden <= EXACT * abs(top):
            return Verdict("ok", float("nan"), None, None,
                           f"at rounding at every step up to h = {h0:.2g} (J is of degree "
                           f"{p - 1} along it, to rounding): no rate, but the rule's term "
                           f"{top:.6g} is right to {hidden:.2g}")
    return Verdict("unsure", float("nan"), None, None,
                   f"r{p - 1} is above rounding at {run.size} step{'s' if run.size != 1 else ''}"
                   f" only: no rate to measure (pass steps=... larger, or check with fc.check)")


def direction_notes(rows, direction, seed):
    """The notes that explain the rows: the joint direction against the tensors',
    and how to reproduce a drawn direction."""
    notes = []
    for row in rows:
        for vd in row.verdicts:
            if vd.note and vd.status in ("ok", "kinks", "unsure"):
                notes.append(f"along {row.name}, {vd.label}: {vd.note}")
    if len(rows) > 1 and rows[0].status == "WRONG" and not any(
            r.status == "WRONG" for r in rows[1:]):
        notes.append("a rate drops along the joint direction but along no tensor alone: "
                     "their errors are each too small for their own steps to see")
    if direction is None:
        notes.append(f"direction drawn by fastcheck: standard normal times each tensor's "
                     f"size, seed={seed}")
    return notes


__all__ = ["taylor_test", "CLEAN", "REACHED"]

"""``check_jvp``: check a layer's forward-mode rule, a Jacobian-vector product, and
with ``vjp=`` the dot-product test between it and the backward rule.

A layer ``out = f(inputs, *args)`` has the Jacobian J; its forward-mode rule
maps tangents of the inputs ``t = {"x": dx, "w": dw, ...}`` to the output's
tangent ``J t``, the derivative of f along t. ``check_jvp`` compares that,
output element by output element, with the central difference of f along t:

    D = (f(inputs + h t) - f(inputs - h t)) / 2h

on the same rules as ``fastcheck.check``: f's noise is measured (Moré and
Wild's difference table, on a random projection of the output), U / h is the
estimate's rounding error, ``threshold`` adds a relative allowance, and an
element beyond that gets the closer look (one-sided slopes at h and h/2 on
both sides: Richardson's estimate settles truncation, a kink is told from a
mistake, ``fastcheck.verdict.rules.judge_probes``). Those four evaluations of
f serve every output element at once, so a tangent costs four forward passes.

To say *where* a rule is wrong, each draw also takes the tangent restricted to
one input at a time (the others zero): the report has a row per input, and the
rows marked WRONG are the inputs whose contribution ``J_x dx`` is wrong.

The dot-product test. With the backward rule ``vjp(u) -> {"dx": ..., ...}``,
``<jvp(t), u> == <t, vjp(u)>`` for every t and u: no finite difference at all.
It is checked per input, within a rounding bound from the norms
(``fastcheck.dotproduct``); where it fails, the finite differences of f along t
(projected on u) say which side is off.
"""

import numbers
import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from .complexparams import has_complex, jvp_complex
from .errors import CostError, FastcheckError, GradientError, InputTypeError, OptionError
from .planning.layout import Layout, as_numeric_array, first_nonfinite, format_index
from .planning.methods import CENTRAL_METHOD
from .planning.noise import measure
from .planning.sampling import chosen_tensors, validate_seed
from .planning.step import noise_boost, positive_finite, scale_floor
from .report.result import Located
from .report.tangents import JvpResult, TangentRow, worst_rank
from .verdict import measured_noise, relative_difference, resolve_threshold
from .verdict.norms import norm
from .verdict.precision import GRAD_ULPS, ROUNDING_ULPS, precision_notes
from .verdict.rules import BLIND, BLIND_FLOOR, KINK, MISTAKE, UNRESOLVED, allowance, judge_probes
from .dotproduct import dot_rows
from .planning.outputs import OutputLayout
from .vjp import MAX_DRAWS, cotangent, count_outputs, describe_outputs, validate_inputs

#: The keywords ``check_jvp`` takes besides its own (``fastcheck.check``'s others,
#: engine, method, sample, ..., have nothing to do with a handful of forward passes).
OPTIONS = ("eps", "threshold", "only", "exclude")
#: Tangents draw from the stream ``[seed, draw, TANGENT_STREAM]``: independent of
#: the cotangents (``vjp.cotangent``, stream ``[seed, draw]``) the dot test pairs them with.
TANGENT_STREAM = 1
#: The steps a tangent is tried at again, in turn, when its first left it "unsure":
#: finer for truncation and kinks, coarser for an allowance too wide (rule 6).
RETRY_FACTORS = (0.1, 10.0, 0.01)
ADVICE = {
    "pass": "the forward-mode rule agrees with the central differences of f within their "
            "error estimates.",
    "kinks": "the forward-mode rule agrees with the central differences of f; where a step "
             "crosses a kink it lies between the one-sided slopes, as it should.",
    "unsure": "some output elements could not be judged (see the notes): fastcheck cannot "
              "tell whether the rule is right there. Try a larger eps or another seed.",
    "mistake": "a rule is wrong: start with the inputs marked WRONG and the output elements "
               "located.",
}


def tangent(shapes, seed=0, draw=0):
    """Draw ``draw`` of fastcheck's tangents: {name: standard normal float64 array}
    for ``shapes`` ({name: shape}), seeded by ``(seed, draw)`` on a stream of its
    own (``TANGENT_STREAM``), so ``check_jvp``'s tangents are reproducible."""
    rng = np.random.default_rng([seed, draw, TANGENT_STREAM])
    return {name: rng.standard_normal(shape) for name, shape in shapes.items()}


def check_jvp(f, inputs, jvp, *args, tangents=None, n=1, seed=0, vjp=None, outputs=None,
              **options):
    """Check a forward-mode rule: ``jvp(t)`` against central differences of ``f``
    along ``t``, output element by output element; with ``vjp=``, the
    dot-product test ``<jvp(t), u> == <t, vjp(u)>`` too.

    Parameters
    ----------
    f : callable or None
        The forward pass ``f(inputs, *args)``, returning the output array, or a
        tuple whose first element is it (``(out, cache)``). None with ``vjp=``:
        the dot-product test alone (nothing then says which rule is wrong).
    inputs : mapping of str -> array_like
        Everything the rule differentiates with respect to, data included.
    jvp : callable, array or mapping
        The rule ``jvp(tangents) -> output tangent`` (the output's shape),
        called with a copy of a dict of tangents keyed like ``inputs``. Or, with
        ``tangents=`` given, its result: one array (the output tangent), or a
        dict {input name: that input's contribution J_x t_x}, which lets the
        report say which input is wrong.
    *args
        Passed to ``f`` after ``inputs``.
    tangents : mapping, optional
        {name: tangent of the input's shape}; inputs left out do not move.
        None: fastcheck draws ``n`` (``fastcheck.jvp.tangent``).
    n, seed : int
        How many tangents to draw (each a separate check; the worst is
        returned, with a note naming its draw) and their seed.
    vjp : callable, optional
        The backward rule ``vjp(u)`` for a cotangent u of the output's shape,
        returning gradients as ``check_vjp`` takes them (a dict keyed ``dx``
        or ``x``, or a tuple in the order of ``inputs``). u is drawn as
        ``check_vjp`` draws it (``fastcheck.vjp.cotangent``).
    outputs : int, optional
        For a layer of several outputs (an LSTM step's ``next_h, next_c``): f
        returns a tuple whose first ``outputs`` elements are them, ``jvp`` a
        tuple of as many output tangents, ``vjp`` takes as many cotangents.
    **options
        eps (the step: the tangent's largest entry moves by it; default scaled
        to the inputs and f's measured noise), threshold, only, exclude.

    Returns
    -------
    JvpResult
        A row per tangent (the joint one, then one per input), a row per input
        of the dot-product test, the located output elements, ``suspects``
        (inputs whose forward contribution is wrong) and ``vjp_suspects``.
    """
    if has_complex(inputs):  # z as z.real and z.imag (fastcheck.complexparams)
        return jvp_complex(check_jvp, f, inputs, jvp, args, tangents, n, seed, vjp, outputs,
                           options)
    threshold, eps = validate(f, inputs, vjp, n, options)
    validate_seed(seed)
    validate_inputs(inputs)
    layout = Layout.from_params(inputs)
    kept = [layout.names[k] for k in chosen_tensors(layout, options.get("only"),
                                                    options.get("exclude"))]
    x = {name: np.array(value, dtype=np.float64) for name, value in inputs.items()}
    shapes = {name: value.shape for name, value in x.items()}
    k = count_outputs(outputs, None)
    rule = Rule(jvp, shapes, k)
    if tangents is None:
        if not rule.callable:
            raise OptionError("jvp holds the rule's result for tangents fastcheck does not "
                              "know: pass those tangents=..., or pass the rule itself "
                              "(jvp=lambda t: layer_jvp(t, cache)) and fastcheck draws its own")
        draws = [{name: t for name, t in tangent(shapes, seed, j).items() if name in kept}
                 for j in range(n)]
    else:
        if n != 1:
            raise OptionError(f"n={n} draws tangents, but tangents= is given; pass "
                              "tangents=None to let fastcheck draw them, or n=1")
        draws = [given_tangents(tangents, shapes, kept)]
    if f is None:
        results = [dot_only(rule, vjp, draw, shapes, seed, j, threshold)
                   for j, draw in enumerate(draws)]
    else:
        forward = Forward(f, args, x, k)
        noise = noise_and_step(forward, x, list(draws[0]), seed, eps)
        results = [check_draw(forward, rule, vjp, draw, x, seed, j, threshold, eps, noise)
                   for j, draw in enumerate(draws)]
        forward.restore()  # the layer left at the given inputs, as the user gave them
        results = [replace(r, evaluations=forward.evaluations) for r in results]
    worst = max(range(len(results)), key=lambda j: worst_rank(results[j]))
    res = results[worst]
    notes = list(res.notes) + precision_notes(inputs)
    if tangents is None:
        failed = sum(not r.passed for r in results)
        tally = (f"; the worst of {n} checks with draws 0 to {n - 1}, {failed} of which failed"
                 if n > 1 else "")
        notes.append(f"tangents drawn by fastcheck: standard normal, draw {worst}, which "
                     f"fastcheck.jvp.tangent(shapes, seed={seed}, draw={worst}) reproduces"
                     f"{tally}")
    return replace(res, notes=notes, draw=worst)


def validate(f, inputs, vjp, n, options):
    """(threshold, eps) from ``options``, after refusing, by name, an unknown option,
    an ``f``, ``vjp`` or ``inputs`` of the wrong kind, or a bad ``n``."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise OptionError(f"check_jvp takes {', '.join(o + '=' for o in OPTIONS)}; got "
                          f"{', '.join(o + '=' for o in unknown)} (fastcheck.check's engines, "
                          "methods and sampling do not apply to a few forward passes)")
    threshold = resolve_threshold(options.get("threshold"))
    eps = options.get("eps")
    eps = None if eps is None else positive_finite(eps, "eps")
    if f is not None and not callable(f):
        raise InputTypeError(f"f must be the layer's forward function, got {type(f).__name__}")
    if f is None and vjp is None:
        raise OptionError("f=None leaves nothing to compare jvp with: pass the forward "
                          "function, or vjp= for the dot-product test alone")
    if vjp is not None and not callable(vjp):
        raise InputTypeError(f"vjp must be the backward rule vjp(u) -> gradients, got "
                             f"{type(vjp).__name__}")
    if not isinstance(inputs, Mapping):
        raise InputTypeError(f"inputs must be a mapping of name -> array, got "
                             f"{type(inputs).__name__}; e.g. {{'x': x, 'w': w, 'b': b}}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_DRAWS:
        raise OptionError(f"n must be an integer from 1 to {MAX_DRAWS} (how many tangents to "
                          f"draw, each a whole check), got {n!r}")
    return threshold, eps


def given_tangents(tangents, shapes, kept):
    """The caller's ``tangents`` as {name: float64 array} over the inputs it names
    (and ``kept`` keeps); ``OptionError`` naming an unknown input, a wrong shape or
    a non-finite entry."""
    if not isinstance(tangents, Mapping):
        raise OptionError(f"tangents must be a mapping {{input name: tangent}}, got "
                          f"{type(tangents).__name__}")
    out = {}
    for name, value in tangents.items():
        if name not in shapes:
            raise OptionError(f"tangents names {name!r}, which is not an input; the inputs "
                              f"are {', '.join(map(repr, shapes))}")
        array = as_numeric_array(value, f"tangents[{name!r}]", error=OptionError)
        if array.shape != shapes[name]:
            raise OptionError(f"tangents[{name!r}] has shape {array.shape} but inputs[{name!r}] "
                              f"has shape {shapes[name]}; a tangent has its input's shape")
        bad = first_nonfinite(array)
        if bad is not None:
            raise OptionError(f"tangents[{name!r}] is not finite at "
                              f"tangents[{name!r}]{format_index(bad)}")
        if name in kept:
            out[name] = array.astype(np.float64)
    if not any(np.any(t) for t in out.values()):
        raise OptionError("tangents is zero on every input checked: the output tangent is "
                          "then 0 whatever the rule; give a nonzero tangent")
    return out


class Rule:
    """The user's forward rule: a callable, one output tangent, or a dict of
    contributions per input; ``tangent_of(t)`` gives its output tangent for the
    tangents ``t`` (a dict over some inputs), validated and flattened (float64)
    over ``outs``, the ``OutputLayout`` (learnt from the rule's first result when
    there is no ``f``)."""

    def __init__(self, jvp, shapes, k=1):
        self.callable = callable(jvp) and not isinstance(jvp, Mapping)
        self.per_input = isinstance(jvp, Mapping)
        if self.per_input:
            for name in jvp:
                if name not in shapes:
                    raise InputTypeError(f"jvp is keyed by input names (each input's "
                                         f"contribution); {name!r} is not an input, the inputs "
                                         f"are {', '.join(map(repr, shapes))}")
        self.jvp, self.shapes, self.k = jvp, shapes, k
        self.outs = None
        self.dtypes = set()

    def can_split(self):
        """Whether the contribution of each input alone can be asked for."""
        return self.callable or self.per_input

    def tangent_of(self, t, moved=None):
        """The output tangent (M,) for tangents ``t`` ({name: array}); ``moved``
        names the one input the tangent is restricted to (for the messages)."""
        what = "jvp(tangents)" if moved is None else f"jvp(tangents along {moved!r} only)"
        if self.callable:
            full = {name: (t[name].copy() if name in t else np.zeros(shape))
                    for name, shape in self.shapes.items()}
            try:
                value = self.jvp(full)
            except FastcheckError:
                raise  # a wrapper's own words (fastcheck.hvp), already naming the rule
            except Exception as exc:
                raise CostError(f"{what} raised {type(exc).__name__}: {exc}") from exc
        elif self.per_input:
            names = [name for name in t if np.any(t[name])]
            missing = [name for name in names if name not in self.jvp]
            if missing:
                raise InputTypeError(f"jvp has no contribution for {', '.join(map(repr, missing))}"
                                     ", which the tangents move; give one per input moved")
            parts = [self.output(self.jvp[name], f"jvp[{name!r}]") for name in names]
            return np.sum(parts, axis=0) if len(parts) > 1 else parts[0]
        else:
            value, what = self.jvp, "jvp"
        return self.output(value, what)

    def output(self, value, what):
        """``value`` (the rule's result) as the flat output tangent, or an error
        naming ``what``."""
        if self.k == 1 and isinstance(value, tuple):
            raise GradientError(f"{what} returned a tuple of {len(value)}; return the output "
                                "tangent alone (for a rule returning (out, out_dot), pass "
                                "jvp=lambda t: rule(t)[1]; for a layer of several outputs, "
                                "outputs=k)")
        if self.k > 1 and (not isinstance(value, (tuple, list)) or len(value) != self.k):
            raise GradientError(f"{what} must return a tuple of {self.k} output tangents, one "
                                f"per output (outputs={self.k}); it returned "
                                f"{type(value).__name__}"
                                + (f" of {len(value)}" if isinstance(value, (tuple, list))
                                   else ""))
        items = value if self.k > 1 else (value,)
        if self.outs is None:  # no f: the rule's first result says what the outputs are
            self.outs = OutputLayout([np.shape(item) for item in items], several=self.k > 1)
        return self.outs.flatten(items, what, self.dtypes)


class Forward:
    """The layer's forward pass at perturbed inputs, counted: ``at(t, s)`` is
    f(x + s t), its first ``k`` outputs flattened into one float64 vector (a fresh
    copy of the inputs every call, so the user's arrays are never touched)."""

    def __init__(self, f, args, x, k=1):
        self.f, self.args, self.x, self.k = f, args, x, k
        self.evaluations, self.moved = 0, False
        value = self.call(x, "at the given inputs")
        self.tupled, outs = describe_outputs(value, k, f"outputs={k}" if k > 1 else None)
        self.outs = OutputLayout([o.shape for o in outs], [o.dtype for o in outs],
                                 several=k > 1)
        self.f0 = self.pick(value)
        again = self.pick(self.call(x, "at the given inputs, a second time"))
        if not np.array_equal(again, self.f0, equal_nan=True):
            raise CostError("f is not deterministic: two calls at the same inputs differed "
                            "(seed any random numbers inside f, or turn dropout off for the "
                            "check)")

    def call(self, x, where):
        self.evaluations += 1
        try:
            return self.f({name: value.copy() for name, value in x.items()}, *self.args)
        except FastcheckError:
            raise
        except Exception as exc:
            raise CostError(f"f raised {type(exc).__name__} {where}: {exc}") from exc

    def pick(self, value):
        items = value[:self.k] if self.tupled else (value,)
        parts = [np.asarray(item, dtype=np.float64).ravel() for item in items]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def restore(self):
        """f at the given inputs again, if it was last called elsewhere: a layer object
        that keeps its last inputs (``self.cache = x``) for its own rules must hold
        the given ones when the rules run (``fastcheck.check`` leaves a cost at theta
        the same way)."""
        if self.moved:
            self.call(self.x, "at the given inputs, after the steps")
            self.moved = False

    def at(self, t, s, where="along the tangent"):
        self.moved = True
        moved = {name: (value + s * t[name] if name in t else value)
                 for name, value in self.x.items()}
        out = self.pick(self.call(moved, where))
        bad = first_nonfinite(out)
        if bad is not None:
            raise CostError(f"f is not finite at out{format_index(bad)} {where} (step {s:.3g}); "
                            "the inputs are too close to the edge of f's domain: pass a "
                            "smaller eps")
        return out


def noise_and_step(forward, x, kept, seed, eps):
    """(U, steps, notes): how well f's output elements are known (the measured
    noise of a random unit projection of the output, with the rules of
    ``verdict.measured_noise``) and {input: the step by which the largest entry of
    its tangent moves} (float64's best central step scaled to the input, larger
    for an f noisier than float64, or ``eps``); a tangent moving several inputs
    takes the smallest of their steps (``step_along``)."""
    theta = np.concatenate([x[name].ravel() for name in kept])
    w = cotangent([(forward.outs.size,)], seed, 0)[0]
    w = np.asarray(w, dtype=np.float64) / max(norm(w), np.finfo(np.float64).tiny)
    names = list(kept)

    def projected(flat):
        t, start = {}, 0
        for name in names:
            size = x[name].size
            t[name] = flat[start:start + size].reshape(x[name].shape) - x[name]
            start += size
        return float(np.sum(forward.at(t, 1.0, "on the noise line") * w))

    j0 = float(np.sum(forward.f0 * w))
    floor = scale_floor(theta)
    measured = measure(projected, theta, j0, np.maximum(floor, np.abs(theta)), seed)
    value_eps = forward.outs.eps
    top = float(np.max(np.abs(forward.f0), initial=0.0))
    scale_j = max(top, np.finfo(np.float64).tiny)
    U, notes = measured_noise(scale_j if not measured.usable else j0, value_eps, measured)
    if measured.usable:
        U = max(U, ROUNDING_ULPS * float(np.finfo(np.float64).eps) * top)
    rms = norm(forward.f0) / np.sqrt(max(forward.f0.size, 1))
    # Unmeasured, the noise is taken as the output's precision (a float32 layer's
    # values are known to about its epsilon), which sets the step as a measured one would.
    relative = (measured.sigma / rms if rms > 0 else 0.0) if measured.usable else value_eps
    boost = noise_boost(relative)
    # Each input's step in proportion to its own size (as fastcheck.check scales each
    # coordinate's, from one floor for all): a weight of 1 beside data of 1e3 moved by
    # the data's step would cross most of a tanh's curve.
    # The floor is check's (one for all, so a bias of 5e-5 is not stepped in its own
    # tiny units), except that huge data does not lend its floor to weights of 1.
    steps = {name: eps if eps is not None else CENTRAL_METHOD.relative_step * boost * max(
        min(floor, max(1.0, scale_floor(x[name].ravel()))),
        float(np.max(np.abs(x[name]), initial=0.0))) for name in kept}
    if boost > 1.0 and eps is None:
        notes = list(notes) + [f"f's measured noise is {relative:.2g} of its outputs (float64 "
                               f"rounding is about 1e-16): steps fitted to it, up to "
                               f"{max(steps.values()):.2g}"]
    return U, steps, list(notes)


def judge_tangent(name, shape, outs, y, slopes, h, U, threshold, rounding):
    """The row of one tangent: its output tangent ``y`` (M,) against the central
    differences of the one-sided ``slopes`` (M, 4) with step ``h``, as
    ``fastcheck.check`` judges a coordinate (first look, then the closer look
    where they disagree). Returns (row, estimate D, allowed, codes)."""
    r1, r2, l1, l2 = slopes.T
    D = 0.5 * (r1 + l1)
    allowed = allowance(U / h, y, D, threshold) + rounding
    codes = np.zeros(y.size, dtype=np.int8)
    bad = np.abs(y - D) > allowed
    if bad.any():
        codes[bad], _ = judge_probes(y[bad], slopes[bad], h, U, threshold, rounding)
    error = np.abs(y - D)
    worst = outs.index(int(np.argmax(error))) if y.size else ()
    status = ("WRONG" if (codes == MISTAKE).any() else "unsure" if (codes == UNRESOLVED).any()
              else "kinks" if (codes == KINK).any() else "ok")
    row = TangentRow(name, shape, int(y.size), relative_difference(y, D),
                     float(error.max(initial=0.0)), tuple(int(i) for i in worst),
                     float(allowed.max(initial=0.0)), status, int((codes == KINK).sum()),
                     outs.several)
    return row, D, allowed, codes


def joint_name(kept):
    """The name of the row of the tangent that moves every input checked: "all"
    (unless an input has that name)."""
    return "all" if "all" not in kept else "(all)"


def step_along(t, steps):
    """The step along the tangents ``t``: the smallest over the inputs it moves of
    that input's step over its tangent's largest |entry|; None if t is zero."""
    hs = [steps[name] / top for name, value in t.items()
          for top in [float(np.max(np.abs(value), initial=0.0))] if top > 0.0]
    return min(hs) if hs else None


def slopes_along(forward, t, h, label):
    """(M, 4) one-sided slopes R(h), R(h/2), L(h), L(h/2) of f along ``t`` (four
    forward passes serve every output element)."""
    f0 = forward.f0
    plus, half = forward.at(t, h, f"along {label} (+h)"), forward.at(t, h / 2,
                                                                     f"along {label} (+h/2)")
    minus, mhalf = forward.at(t, -h, f"along {label} (-h)"), forward.at(t, -h / 2,
                                                                        f"along {label} (-h/2)")
    return np.stack([(plus - f0) / h, (half - f0) / (h / 2), (f0 - minus) / h,
                     (f0 - mhalf) / (h / 2)], axis=-1).reshape(-1, 4)


def check_draw(forward, rule, vjp, draw, x, seed, j, threshold, eps, noise):
    """The ``JvpResult`` of one draw of tangents ``draw`` ({name: tangent})."""
    start = time.perf_counter()
    rule.outs = forward.outs
    kept = list(draw)
    U, steps, notes = noise[0], noise[1], list(noise[2])
    joint = joint_name(kept)
    tangents = [(joint, tuple(kept), draw)]
    if len(kept) > 1 and rule.can_split():
        tangents += [(name, x[name].shape, {name: draw[name]}) for name in kept]
    elif len(kept) > 1:
        notes.append("jvp is one array, the output tangent for all the tangents at once: it "
                     "says whether the rule is right, not which input's part is wrong; pass a "
                     "dict {input: its contribution} or the rule itself to find out")
    if len(kept) == 1:
        tangents = [(kept[0], x[kept[0]].shape, draw)]
    outputs, measured = [], []
    for name, shape, t in tangents:
        h = step_along(t, steps)
        if h is None:
            continue
        forward.restore()
        y = rule.tangent_of(t, None if t is draw else name).ravel()
        outputs.append((name, t, y))
        measured.append((name, shape, t, y, h))
    grad_eps = max([float(np.finfo(d).eps) for d in rule.dtypes if d.kind == "f"]
                   + [forward.outs.eps])

    def judged_at(name, shape, t, y, h):
        rounding = (GRAD_ULPS * grad_eps * float(np.max(np.abs(y), initial=0.0))
                    if grad_eps > np.finfo(np.float64).eps else 0.0)
        slopes = slopes_along(forward, t, h, f"the tangent of {name}")
        return (*judge_tangent(name, shape, forward.outs, y, slopes, h, U, threshold,
                               rounding), h)

    first = [judged_at(*m) for m in measured]
    overall = max((float(np.max(np.maximum(np.abs(m[3]), np.abs(r[1])), initial=0.0))
                   for m, r in zip(measured, first)), default=0.0)
    rows, located, extra, results, elements = [], [], [], [], {}
    for (name, shape, t, y, h), judged in zip(measured, first):
        row, D, allowed, codes, h = judged
        row, why = blind(row, y, D, overall)
        if row.status == "unsure" and eps is None:
            # Elements the closer look could not resolve (kinks on both sides, truncation
            # at a step too coarse for f's curvature) or an allowance too wide for the
            # rule's size: the same tangent at other steps, the first clean one kept.
            for factor in RETRY_FACTORS:
                again = judged_at(name, shape, t, y, h * factor)
                retried, again_why = blind(again[0], y, again[1], overall)
                if retried.status != "unsure":
                    extra.append(f"along {name}, the step {h:.2g} left output elements "
                                 f"unresolved; judged at {h * factor:.2g}")
                    row, (_, D, allowed, codes, h), why = retried, again, None
                    break
        if why:
            extra.append(why)
        rows.append(row)
        results.append((name, shape, y, h, row, D, allowed, codes))
        elements[name] = (y, D, allowed, codes)
        if len(measured) == 1 or name != joint:
            for k in np.flatnonzero(codes == MISTAKE):
                index = forward.outs.index(k)
                located.append(Located(name, index, float(y[k]), float(D[k])))
    if len(rows) > 1 and rows[0].status == "WRONG" and not any(
            row.status == "WRONG" for row in rows[1:]):
        extra.append("jvp is wrong along the joint tangent but right along each input's: it "
                     "is not linear in the tangents (the sum of the parts differs from the "
                     "whole)")
    located.sort(key=lambda loc: -abs(loc.gradient - loc.estimate))
    dot = []
    forward.restore()
    if vjp is not None:
        estimates = {r[0]: (r[5], r[6], row.status) for r, row in zip(results, rows)}
        dot = dot_rows(rule, vjp, outputs, forward.outs, seed, j, threshold, grad_eps,
                       estimates, x.keys(), joint, extra)
    statuses = [row.status for row in rows] + ["WRONG" for row in dot if row.status != "ok"]
    verdict = ("mistake" if "WRONG" in statuses else "unsure" if "unsure" in statuses
               else "kinks" if "kinks" in statuses else "pass")
    difference = max([rows[0].difference if rows else float("nan")]
                     + [dot_difference(row) for row in dot if row.status != "ok"])
    return JvpResult(
        difference=difference, threshold=threshold, passed=verdict in ("pass", "kinks"),
        verdict=verdict, advice=ADVICE[verdict], layout=None, rows=rows, dot=dot,
        located=located, elements=elements, output_shape=forward.outs.shape,
        several=forward.outs.several, draw=j,
        h=results[0][3] if results else float("nan"), noise=U,
        evaluations=forward.evaluations, eps=eps,
        seconds=time.perf_counter() - start, notes=notes + extra,
        engine_reason="python: f is evaluated as it is, four times per tangent and on the "
                      "noise line (nothing to compile for a handful of forward passes)")


def dot_difference(row):
    """|<jvp(t), u> - <t, vjp(u)>| relative to their sum of magnitudes (0 for two zeros)."""
    return abs(row.forward - row.reverse) / max(abs(row.forward) + abs(row.reverse), 1e-300)


def blind(row, y, D, overall):
    """Rule 6 for a tangent's row, ``(row, note or None)``: an allowance above
    ``BLIND`` of the row's largest entry could hide an error of the output
    tangent's own size ("unsure"), unless the rule says 0 there and the allowance
    is below ``BLIND_FLOOR`` of the largest entry of every row (an input f ignores)."""
    if row.status not in ("ok", "kinks"):
        return row, None
    top = float(np.max(np.maximum(np.abs(y), np.abs(D)), initial=0.0))
    if row.detectable <= BLIND * top:
        return row, None
    if float(np.max(np.abs(y), initial=0.0)) <= BLIND * row.detectable and \
            row.detectable <= BLIND_FLOOR * overall:
        return row, None
    return replace(row, status="unsure"), (
        f"an error up to {row.detectable:.2g} could hide in the output tangent along "
        f"{row.name}, of at most {top:.2g}: try a larger eps")


def dot_only(rule, vjp, draw, shapes, seed, j, threshold):
    """The dot-product test alone (``f=None``): no finite differences, so an
    inconsistency is found but not blamed on either rule."""
    start = time.perf_counter()
    kept = list(draw)
    joint = joint_name(kept)
    outputs = []
    first = rule.tangent_of(draw)
    outputs.append((joint, draw, first.ravel()))
    if len(kept) > 1 and rule.can_split():
        outputs += [(name, {name: draw[name]}, rule.tangent_of({name: draw[name]}, name).ravel())
                    for name in kept]
    grad_eps = max([float(np.finfo(d).eps) for d in rule.dtypes if d.kind == "f"]
                   + [float(np.finfo(np.float64).eps)])
    notes = []
    dot = dot_rows(rule, vjp, outputs, rule.outs, seed, j, threshold, grad_eps, {}, shapes,
                   joint, notes)
    verdict = "mistake" if any(row.status != "ok" for row in dot) else "pass"
    if verdict == "mistake":
        notes.append("without f, fastcheck cannot say which of jvp and vjp is wrong: pass f "
                     "to compare both with its finite differences")
    worst = max((dot_difference(r) for r in dot), default=0.0)
    return JvpResult(
        difference=worst, threshold=threshold, passed=verdict == "pass", verdict=verdict,
        advice=ADVICE[verdict], layout=None, dot=dot, output_shape=rule.outs.shape,
        several=rule.outs.several, draw=j,
        seconds=time.perf_counter() - start, notes=notes, engine="none",
        engine_reason="the dot-product test evaluates no function: jvp and vjp only")

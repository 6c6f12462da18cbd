"""Complex parameters in ``fastcheck.check``: a real cost of complex arrays, its
gradient checked along each parameter's real and imaginary axes.

A complex parameter z = x + i y of a real cost J has two real derivatives,
dJ/dx and dJ/dy. The gradient a user supplies is, by default, what PyTorch's
autograd returns for a real loss: ``dJ/dx + i dJ/dy`` (PyTorch documents it as
the conjugate Wirtinger derivative, scaled so that it is the direction of
steepest ascent: 2 dJ/dz*; for J = |z|^2 it is 2 z). ``complex_grad="conjugate"``
takes ``dJ/dx - i dJ/dy`` instead, what JAX's ``grad`` returns (2 dJ/dz; for
|z|^2, 2 conj(z)).

The check itself is ``fastcheck.check`` on a real problem, the same plan,
engines, noise, verdict and report: each complex tensor ``z`` becomes two real
tensors, ``z.real`` and ``z.imag``, the cost sees ``z.real + 1j * z.imag``, and the
gradient's real and imaginary parts (the imaginary part negated for the
conjugate convention) are their gradients. So the kernels stay float64 and the
per-tensor table says which part of which tensor is wrong: a conjugated
gradient is wrong in ``z.imag`` only.

Where a tensor's gradient is wrong, it is compared with what the other
conventions would have given (the conjugate, the Wirtinger dJ/dz* without its
2, both): a match is named in a note. When every complex gradient matches the
other convention and everything else is right, that is a convention, not a
mistake: the verdict is ``unsure`` and the note says which ``complex_grad``
to pass.
"""

import dataclasses
from collections.abc import Mapping

import numpy as np

from .errors import CostError, GradientError, OptionError

#: ``complex_grad`` values: the gradient's imaginary part's sign, and whose it is.
CONVENTIONS = {None: (1.0, "PyTorch's, dJ/dRe(z) + i dJ/dIm(z)"),
               "pytorch": (1.0, "PyTorch's, dJ/dRe(z) + i dJ/dIm(z)"),
               "conjugate": (-1.0, "the conjugate, dJ/dRe(z) - i dJ/dIm(z) (JAX's)")}
#: Other forms a complex gradient is compared with where it is wrong: (what it
#: is, the factor on the real part, the factor on the imaginary part), applied to
#: the gradient as given, in the convention asked for.
ALTERNATIVES = (("the conjugate convention's (the imaginary part's sign flipped)", 1.0, -1.0),
                ("the Wirtinger derivative without its 2 (half the gradient)", 2.0, 2.0),
                ("the conjugate convention's, without its 2", 2.0, -2.0))


def is_complex(value):
    """Whether a parameter is a complex array or number (a value NumPy cannot make an
    array of is left to the layout's own error)."""
    try:
        return np.iscomplexobj(value)
    except (ValueError, TypeError):
        return False


def has_complex(params):
    """Whether any parameter of ``params`` (a mapping) is complex."""
    return isinstance(params, Mapping) and any(is_complex(v) for v in params.values())


def part_names(name):
    """The real tensors a complex parameter ``name`` becomes."""
    return f"{name}.real", f"{name}.imag"


def check_complex(check, cost, params, grads, args, complex_grad, options):
    """``check`` (``fastcheck.check``) of a real cost of complex ``params``: the real
    problem built, checked with ``options``, and its result with the notes on
    conventions."""
    real_cost, real_params, real_grads, options, complex_names = real_problem(
        cost, params, grads, complex_grad, options)
    res = check(real_cost, real_params, real_grads, *args, **options)
    return with_convention_notes(res, complex_names, complex_grad)


def locate_complex(locate, cost, params, grads, args, complex_grad, options):
    """``locate`` (``fastcheck.locate``) of a real cost of complex ``params``, on the
    real problem: the coordinates it names are ``z.real[i]`` and ``z.imag[i]``."""
    real_cost, real_params, real_grads, options, _ = real_problem(
        cost, params, grads, complex_grad, options)
    return locate(real_cost, real_params, real_grads, *args, **options)


def real_problem(cost, params, grads, complex_grad, options):
    """(cost, params, grads, options, complex names) of the real problem: each
    complex tensor z as ``z.real`` and ``z.imag``, its gradient's parts (the
    imaginary one negated for the conjugate convention), ``only``/``exclude``
    naming z for both; refusals by name for what cannot be checked."""
    if complex_grad not in CONVENTIONS:
        raise OptionError(f"complex_grad must be None (PyTorch's dJ/dRe(z) + i dJ/dIm(z)) or "
                          f"'conjugate' (JAX's dJ/dRe(z) - i dJ/dIm(z)), got {complex_grad!r}")
    if options.get("method") == "complex":
        raise OptionError("method='complex' perturbs parameters by an imaginary step, which a "
                          "complex parameter already has: use method='central' or "
                          "'richardson' for complex parameters")
    if not isinstance(grads, Mapping):
        raise GradientError(f"grads must be a mapping of name -> array, got "
                            f"{type(grads).__name__}")
    sign, _ = CONVENTIONS[complex_grad]
    complex_names = [name for name, value in params.items() if is_complex(value)]
    real_params, real_grads = {}, {}
    for name, value in params.items():
        key = gradient_key(name, grads)
        given = grads[key]
        if name in complex_names:
            z = np.asarray(value)
            g = np.asarray(given)
            if not np.iscomplexobj(g):
                raise GradientError(f"grads[{key!r}] is real but params[{name!r}] is complex: "
                                    f"give its gradient as a complex array, dJ/dRe + i dJ/dIm "
                                    "(or pass complex_grad='conjugate' for dJ/dRe - i dJ/dIm)")
            re, im = part_names(name)
            real_params[re], real_params[im] = z.real.copy(), z.imag.copy()
            real_grads[re], real_grads[im] = g.real.copy(), sign * g.imag
        else:
            if np.iscomplexobj(given):
                raise GradientError(f"grads[{key!r}] is complex but params[{name!r}] is real: "
                                    "a real parameter's gradient is real (drop the imaginary "
                                    "part only if it is zero)")
            real_params[name], real_grads[name] = value, given
    options = dict(options)
    for which in ("only", "exclude"):
        options[which] = split_names(options.get(which), complex_names)

    def real_cost(p, *rest):
        full = {name: (p[name] if name not in complex_names else
                       p[part_names(name)[0]] + 1j * p[part_names(name)[1]])
                for name in params}
        return real_value(cost(full, *rest))

    return real_cost, real_params, real_grads, options, complex_names


def gradient_key(name, grads):
    """The key of ``name``'s gradient in ``grads`` (``dW`` or ``W``), or a ``GradientError``."""
    for key in ("d" + name, name):
        if key in grads:
            return key
    raise GradientError(f"grads has no gradient for the parameter {name!r} (keyed "
                        f"'d{name}' or '{name}')")


def split_names(names, complex_names):
    """``only``/``exclude`` with each complex tensor's name standing for both its parts."""
    if names is None:
        return None
    names = [names] if isinstance(names, str) else list(names)
    out = []
    for name in names:
        out += list(part_names(name)) if name in complex_names else [name]
    return out


def real_value(value):
    """The cost's value, which must be real: a complex value with a zero imaginary
    part (NumPy's sums of complex arrays) is taken as its real part."""
    first = value[0] if type(value) is tuple and value else value
    if np.iscomplexobj(first):
        array = np.asarray(first)
        if np.any(array.imag != 0):
            raise CostError(f"the cost of complex parameters returned the complex value "
                            f"{complex(array.reshape(-1)[0]) if array.size else array}: it "
                            "must be real (a loss such as np.sum(np.abs(r) ** 2), or "
                            "np.real(...) of it)")
        return array.real
    return value


def with_convention_notes(res, complex_names, complex_grad):
    """``res`` with a note per complex tensor whose wrong gradient matches another
    convention, and the verdict ``unsure`` when every complex gradient matches the
    same other convention and nothing else is wrong."""
    layout = res.layout
    wrong = set(res.suspects)
    matches, notes = {}, []
    for name in complex_names:
        re, im = part_names(name)
        if re not in wrong and im not in wrong:
            continue
        spans = [layout.span(layout.names.index(part)) for part in (re, im)]
        for what, fre, fim in ALTERNATIVES:
            if all(agrees(res, span, factor) for span, factor in zip(spans, (fre, fim))):
                matches[name] = what
                notes.append(f"{name}'s gradient is {what} rather than {asked(complex_grad)}")
                break
    others = wrong - {part for name in matches for part in part_names(name)}
    fields = {"notes": list(res.notes) + notes}
    if matches and not others and len(matches) == len(complex_names) and \
            len(set(matches.values())) == 1:
        what = next(iter(matches.values()))
        hint = ("pass complex_grad='conjugate' if that is the convention you meant"
                if "conjugate" in what and "without" not in what and complex_grad != "conjugate"
                else "pass complex_grad=None if PyTorch's is the convention you meant"
                if "conjugate" in what and "without" not in what
                else "double it for the steepest-ascent gradient (what optimisers take)")
        fields.update(verdict="unsure", passed=False,
                      advice=(f"every complex gradient is {what}: a convention, not a mistake "
                              f"in itself; {hint}."))
    return dataclasses.replace(res, **fields)


def asked(complex_grad):
    return "the convention asked for, " + CONVENTIONS[complex_grad][1]


def agrees(res, span, factor):
    """Whether ``factor`` times the given gradient over ``span`` agrees with the
    estimates within their error estimates (and float64 rounding of both)."""
    given = res.grad_flat[span] * factor
    estimate = res.gradapprox_flat[span]
    error = res.error_flat[span]
    checked = np.isfinite(estimate)
    if not checked.any():
        return False
    given, estimate, error = given[checked], estimate[checked], error[checked]
    slack = 10.0 * error + 1e-7 * np.maximum(np.abs(given), np.abs(estimate))
    return bool(np.all(np.abs(given - estimate) <= slack))


def jvp_complex(check_jvp, f, inputs, jvp, args, tangents, n, seed, vjp, outputs, options):
    """``check_jvp`` of a layer with complex inputs, on the real problem: each complex
    input z as ``z.real`` and ``z.imag``, a complex output as its (real, imaginary)
    pairs along a new last axis (``out[i, j, 0]`` is the real part of ``out[i, j]``),
    the rule's complex tangents likewise; ``vjp(u)`` gets the complex cotangent and
    returns PyTorch's convention, the gradient of Re <u, out>."""
    if jvp is not None and not callable(jvp):
        raise OptionError("for complex inputs pass the rule itself (jvp=lambda t: ...): its "
                          "complex results are split into real and imaginary parts")
    complex_names = [name for name, value in inputs.items() if is_complex(value)]
    k = 1 if outputs is None else outputs
    joined = join(inputs, complex_names)
    first = f(joined, *args) if f is not None else None
    shaped = (first[:k] if isinstance(first, tuple) else (first,)) if f is not None else ()
    complex_out = [np.iscomplexobj(item) for item in shaped] or None

    def to_real(items, tupled):
        items = list(items[:k]) if tupled else [items]
        out = [np.stack([np.real(v), np.imag(v)], axis=-1)
               if (complex_out[j] if complex_out else np.iscomplexobj(v)) else v
               for j, v in enumerate(items)]
        return tuple(out) if tupled or k > 1 else out[0]

    real_inputs = split(inputs, complex_names)

    def f_real(p, *rest):
        value = f(join(p, complex_names), *rest)
        return to_real(value, isinstance(value, tuple))

    def rule_real(t):
        return to_real(jvp(join(t, complex_names)), k > 1)

    def vjp_real(*us):
        douts = [u[..., 0] + 1j * u[..., 1] if complex_out and complex_out[j] else u
                 for j, u in enumerate(us)]
        grads = vjp(*douts)
        if not isinstance(grads, Mapping):
            grads = dict(zip(inputs, grads))
        out = {}
        for name in inputs:
            key = "d" + name if "d" + name in grads else name
            g = np.asarray(grads[key])
            if name in complex_names:
                out[part_names(name)[0]], out[part_names(name)[1]] = g.real, g.imag
            else:
                out[name] = g
        return out

    given = None if tangents is None else split(tangents, [name for name in complex_names
                                                            if name in tangents])
    options = dict(options)
    for which in ("only", "exclude"):
        if options.get(which) is not None:
            options[which] = split_names(options[which], complex_names)
    res = check_jvp(f_real if f is not None else None, real_inputs,
                    rule_real if jvp is not None else None, *args, tangents=given, n=n,
                    seed=seed, vjp=vjp_real if vjp is not None else None, outputs=outputs,
                    **options)
    notes = [f"complex inputs {', '.join(complex_names)} moved along their real and imaginary "
             "parts (name.real, name.imag)"]
    if complex_out and any(complex_out):
        notes.append("a complex output is compared as (real, imaginary) pairs along a last "
                     "axis: out[i, j, 0] is the real part of out[i, j], out[i, j, 1] its "
                     "imaginary part")
    return dataclasses.replace(res, notes=list(res.notes) + notes)


def split(arrays, complex_names):
    """{name: array} with each complex one as ``name.real`` and ``name.imag``."""
    out = {}
    for name, value in arrays.items():
        if name in complex_names:
            z = np.asarray(value)
            out[part_names(name)[0]], out[part_names(name)[1]] = z.real.copy(), z.imag.copy()
        else:
            out[name] = value
    return out


def join(parts, complex_names):
    """The inverse of ``split``: each ``name.real`` and ``name.imag`` as one complex array."""
    out = {name: value for name, value in parts.items()
           if not any(name in part_names(z) for z in complex_names)}
    for name in complex_names:
        re, im = part_names(name)
        if re in parts:
            out[name] = parts[re] + 1j * parts[im]
        else:
            out[name] = parts[name]
    return out

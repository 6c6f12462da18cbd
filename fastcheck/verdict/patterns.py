"""What the numbers of a failed check show: a common factor, a sign, a transpose.

A wrong backward pass is often wrong in one simple way, and the estimates say
which: every wrong gradient 48.0 times its estimate (a mean over N x C = 48
entries where the exercise sums, or the reverse), the negative of it (a sign),
or its transpose (a square weight's ``dZ @ A.T`` written ``A @ dZ.T``). The
verdict calls ``patterns`` for the tensors it marked WRONG; each finding is a
report note computed from the estimates themselves (tests/test_noise.py).
"""

import re

import numpy as np

from .norms import median

#: Ratios grad / estimate are read only where the estimate stands this many
#: allowances clear of 0 (so each ratio is known to about 1%)...
CLEAR = 100.0
#: ...and agree on a factor when all lie within this relative spread of it.
SPREAD = 0.01
#: A factor is named only this far from 1 ("every wrong gradient is 1x the
#: estimate" says nothing: a small additive error, a scale of 1 + 1e-6).
NOT_ONE = 2 * SPREAD


def factor(grad, approx, allowed):
    """The one factor r with grad ~ r * approx over the coordinates (n,) whose
    estimate is clear of 0 (None when there are none or their ratios differ);
    0.0 when the gradient is 0 wherever the estimate is not."""
    clear = np.abs(approx) > CLEAR * allowed
    if not clear.any():
        return None
    ratio = grad[clear] / approx[clear]
    r = median(ratio)
    if r == 0.0:
        return 0.0 if np.all(ratio == 0.0) else None
    return r if np.all(np.abs(ratio - r) <= SPREAD * abs(r)) else None


def transposed(grad, approx, allowed, shape):
    """True when a square 2-D tensor's gradient (n,) is the transpose of its
    estimate within ``allowed`` (every entry checked, and not symmetric)."""
    if len(shape) != 2 or shape[0] != shape[1] or grad.size != shape[0] * shape[1]:
        return False
    g, a, tol = (x.reshape(shape) for x in (grad, approx, allowed))
    return bool(np.all(np.abs(g.T - a) <= tol.T + tol)
                and not np.all(np.abs(g - a) <= tol))


def simple(r):
    """True for a factor worth naming alone: 0, or +-n or +-1/n for a whole n."""
    if r == 0.0:
        return True
    big = abs(r) if abs(r) > 1.0 else 1.0 / abs(r)
    return abs(big - round(big)) <= SPREAD * big


def _whole(r):
    """``r`` as the whole number n or 1/n it is near (``simple``), else ``r``."""
    if r == 0.0 or not simple(r):
        return r
    big = abs(r) if abs(r) > 1.0 else 1.0 / abs(r)
    n = float(round(big)) * np.sign(r)
    return n if abs(r) > 1.0 else 1.0 / n


def describe(r):
    """Words for a factor r between a gradient and its estimate."""
    if r == 0.0:
        return "0 where the estimate is not: a gradient never written or never accumulated?"
    if abs(r + 1.0) <= SPREAD:
        return "the negative of the estimate: a sign?"
    # A factor near a whole number (or its inverse) is named by it: 1.999 and 2.001 are
    # the same 2x on every machine's BLAS kernels.
    words = f"{_whole(r):.4g}x the estimate"
    if r < 0.0:
        return words + ": a sign, and a scale"
    big = r if r > 1.0 else 1.0 / r
    if abs(big - round(big)) <= SPREAD * big and round(big) >= 3:  # 2x is just 2x
        n = round(big)
        return words + (f": a mean where a sum belongs, a missing 1/m, or an extra factor "
                        f"of {n}?" if r > 1.0 else
                        f": a sum where a mean belongs, an extra 1/m, or a missing factor "
                        f"of {n}?")
    return words


def patterns(layout, grad_flat, approx, idx, allowed, rows, flagged):
    """Notes (list of str) on the tensors of ``rows`` marked WRONG: one for a
    factor they all share, else one per tensor with a simple factor
    (``simple``) or a transpose.

    ``approx``, ``allowed`` and ``flagged`` (coordinates at kinks, whose
    estimates straddle two slopes and say nothing of a factor) are (n,) for
    the checked flat ``idx`` (sorted); ``grad_flat`` is (P,).
    """
    allowed = np.where(flagged, np.inf, allowed)
    wrong = [k for k, row in enumerate(rows) if row.status == "WRONG"]
    if not wrong:
        return []
    bounds = np.searchsorted(idx, np.append(layout.starts, layout.size))
    found = {}
    for k in wrong:
        part = slice(bounds[k], bounds[k + 1])
        grad = grad_flat[idx[part]]
        if transposed(grad, approx[part], allowed[part], layout.shapes[k]):
            found[k] = "T"
        else:
            found[k] = factor(grad, approx[part], allowed[part])
    factors = [r for r in found.values() if isinstance(r, float)]
    if len(wrong) > 1 and len(factors) == len(wrong):
        r = median(factors)
        if all(abs(f - r) <= SPREAD * abs(r) for f in factors) or r == 0.0 == max(
                map(abs, factors)):
            return [f"every wrong gradient is {describe(r)}"] if abs(r - 1.0) > NOT_ONE else []
    notes = []
    for k, r in found.items():
        if r == "T":
            notes.append(f"{layout.names[k]} is the transpose of its estimate: "
                         "a product written in the wrong order?")
        elif r is not None and abs(r - 1.0) > NOT_ONE and simple(r):
            notes.append(f"{layout.names[k]} is {describe(r)}")
    return notes


#: A layer's weight and bias named as people name them: W1/b1, w2/b2, fc1.weight/fc1.bias,
#: layers.0.weight/layers.0.bias, conv1_W/conv1_b (a whole word: not the b of beta).
_KIND = re.compile(r"(?<![A-Za-z])(weights|weight|kernel|biases|bias|W|w|b)(?![a-z])")


def _layer(name):
    """(layer key, "weight" or "bias", layer number or None) of a tensor name, or None."""
    match = _KIND.search(name)
    if match is None:
        return None
    rest = name[:match.start()] + "|" + name[match.end():]
    number = re.findall(r"\d+", rest)
    return (rest, "bias" if match[1].startswith("b") else "weight",
            int(number[-1]) if number else None)


def shared_upstream(names, statuses):
    """Notes (list of str) for each layer whose weight and bias are both WRONG while
    every tensor of the layers numbered above it agrees ("ok" or "kinks"): the
    mistake is in what the two share, the gradient at the layer's output
    (dZ1 of W1, b1: an activation's derivative or mask)."""
    layers = {}
    for name, status in zip(names, statuses):
        part = _layer(name)
        if part is not None:
            layers.setdefault(part[0], {})[part[1]] = (name, status, part[2])
    notes = []
    for parts in layers.values():
        if set(parts) != {"weight", "bias"} or any(s != "WRONG" for _, s, _ in parts.values()):
            continue
        (w, _, n), (b, _, _) = parts["weight"], parts["bias"]
        above = [other for other in layers.values() for _, s, m in other.values()
                 if n is not None and m is not None and m > n]
        if n is None or not above or any(
                s not in ("ok", "kinks") for other in layers.values()
                for _, s, m in other.values() if m is not None and m > n):
            continue
        w, b = (f"d{x}" if x.isalnum() else x for x in (w, b))
        notes.append(f"{w} and {b} are both wrong and the layers above are right: look at "
                     f"what they share, dZ{n} (the activation's derivative or mask)")
    return notes

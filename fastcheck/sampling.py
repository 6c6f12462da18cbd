"""Which coordinates a check visits: all of them, or a stratified sample."""

import math
import numbers

import numpy as np

from .errors import OptionError


def validate_seed(seed):
    """``seed`` as a non-negative int, or ``OptionError``."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise OptionError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def sample_size(sample, P):
    """The number of coordinates ``sample`` asks for: a count, or a fraction of P."""
    if isinstance(sample, bool) or not isinstance(sample, numbers.Real) \
            or not math.isfinite(sample) or sample <= 0:
        raise OptionError(f"sample must be a positive count or a fraction in (0, 1], got "
                          f"{sample!r}")
    if isinstance(sample, numbers.Integral):
        count = int(sample)
    elif sample <= 1.0:
        count = max(1, math.ceil(sample * P))
    else:
        raise OptionError(f"sample={sample!r} is neither a whole count nor a fraction in "
                          "(0, 1]")
    if count > P:
        raise OptionError(f"sample={sample!r} asks for {count} coordinates but there are only "
                          f"{P} parameters; use sample=None to check them all")
    return count


def per_tensor_counts(sizes, count, rng=None):
    """How many coordinates each tensor gets out of ``count``: (T,) int64, summing
    to ``count`` exactly.

    Every tensor gets at least min(k, size), k = max(1, count // (2T)), so small
    tensors (biases) are never left out; the rest goes in proportion to size.
    With fewer coordinates than tensors, ``count`` tensors get one each: the
    tensors are cut into ``count`` runs of consecutive tensors, of equal length
    to within one, and each run gives one, at a position ``rng`` draws (seed 0
    by default), so the chosen tensors spread over the whole layout.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    if count < sizes.size:
        rng = np.random.default_rng(0) if rng is None else rng
        runs = np.arange(count + 1) * sizes.size // count
        chosen = runs[:-1] + (rng.random(count) * np.diff(runs)).astype(np.int64)
        counts = np.zeros(sizes.size, dtype=np.int64)
        counts[chosen] = 1
        return counts
    k = max(1, count // (2 * sizes.size))
    counts = np.minimum(k, sizes)
    left = count - int(counts.sum())
    if left > 0:
        room = sizes - counts
        share = left * room / room.sum()
        extra = np.floor(share).astype(np.int64)
        # Largest remainders take the coordinates that flooring left over.
        order = np.argsort(-(share - extra), kind="stable")
        extra[order[:left - int(extra.sum())]] += 1
        counts = counts + np.minimum(extra, room)
    return counts


def coordinates(layout, sample=None, seed=0):
    """Sorted flat indices (n,) int64 to check: all P, or a stratified sample.

    The sample is deterministic for a given ``seed``.
    """
    P = layout.size
    if sample is None:
        return np.arange(P, dtype=np.int64)
    count = sample_size(sample, P)
    sizes = np.diff(layout.offsets)
    rng = np.random.default_rng(validate_seed(seed))
    chosen = [layout.offsets[k] + rng.choice(int(size), size=int(n), replace=False)
              for k, (size, n) in enumerate(zip(sizes, per_tensor_counts(sizes, count, rng)))]
    return np.sort(np.concatenate(chosen)).astype(np.int64)

"""Which coordinates a check visits: all of them, or a stratified sample."""

import math
import numbers

import numpy as np

from ..errors import OptionError


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


def tensor_names(names, option, layout):
    """``names`` (a str or an iterable of str) as a tuple, or ``OptionError`` naming
    ``option`` and any name that is not a tensor of ``layout``."""
    chosen = (names,) if isinstance(names, str) else names
    try:
        chosen = tuple(chosen)
    except TypeError:
        raise OptionError(f"{option} must be a tensor name or an iterable of them, got "
                          f"{names!r}") from None
    odd = [name for name in chosen if not isinstance(name, str)]
    if odd:
        raise OptionError(f"{option} takes tensor names (str), got {odd[0]!r}")
    unknown = [name for name in chosen if name not in layout.names]
    if unknown:
        raise OptionError(f"{option} names {', '.join(map(repr, unknown))}, which "
                          f"{'is not a tensor' if len(unknown) == 1 else 'are not tensors'}; "
                          f"the tensors are {', '.join(map(repr, layout.names))}")
    return chosen


def chosen_tensors(layout, only=None, exclude=None):
    """Indices (into ``layout.names``) of the tensors a check visits, in layout order.

    ``only`` keeps just the tensors it names, ``exclude`` drops those it names
    (both may be given); ``OptionError`` for unknown names or when none is left.
    """
    kept = set(layout.names)
    if only is not None:
        kept = set(tensor_names(only, "only", layout))
        if not kept:
            raise OptionError("only= names no tensor; name at least one of "
                              f"{', '.join(map(repr, layout.names))}, or pass only=None")
    if exclude is not None:
        kept -= set(tensor_names(exclude, "exclude", layout))
    if not kept:
        which = "exclude= names every tensor" if only is None else \
            "exclude= drops every tensor only= keeps"
        raise OptionError(f"{which}, which leaves nothing to check (the tensors are "
                          f"{', '.join(map(repr, layout.names))})")
    return [k for k, name in enumerate(layout.names) if name in kept]


def coordinates(layout, sample=None, seed=0, only=None, exclude=None):
    """Sorted flat indices (n,) int64 to check: all P, or a stratified sample.

    ``only`` and ``exclude`` (a tensor name or an iterable of them) restrict
    both to the tensors ``chosen_tensors`` keeps; ``sample`` then counts (or
    is a fraction of) their coordinates only. The sample is deterministic for a
    given ``seed``.
    """
    tensors = chosen_tensors(layout, only, exclude)
    sizes = np.diff(layout.offsets)[tensors]
    if sample is None:
        return np.concatenate([np.arange(layout.offsets[k], layout.offsets[k + 1],
                                         dtype=np.int64) for k in tensors])
    count = sample_size(sample, int(sizes.sum()))
    rng = np.random.default_rng(validate_seed(seed))
    chosen = [layout.offsets[k] + rng.choice(int(size), size=int(n), replace=False)
              for k, size, n in zip(tensors, sizes, per_tensor_counts(sizes, count, rng))]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def flat_indices(indices, P):
    """``indices`` as sorted unique int64 flat indices in [0, P), or ``OptionError``."""
    array = np.asarray(indices)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iu":
        raise OptionError(f"indices must be a non-empty 1-D list of integer flat indices, "
                          f"got {indices!r}")
    if array.min() < 0 or array.max() >= P:
        raise OptionError(f"indices must lie in [0, {P}) (there are {P} parameters), got "
                          f"range [{array.min()}, {array.max()}]")
    return np.unique(array).astype(np.int64)

"""Adaptive group testing: which coordinates of a gradient are wrong, from J at
chosen points only (the algorithm of ``../shared/research/locate.md``).

A *trial* of a subset S of the flat coordinates draws a rad-u direction v
(random signs, magnitudes uniform in [1, 2], zero off S), perturbs theta by
d = h * v and compares the central difference with the gradient:

    rho(s) = [(J(theta + s d) - J(theta - s d)) / 2 - g . (d+ - d-) / 2] / s

(d+ and d- the steps actually stored). A wrong gradient entry j adds e_j v_j
exactly, so its signal is what the coordinate check sees at the same step; the
noise is that of two evaluations whatever |S|. ``|rho(1)| <= tau`` passes; in
a clean test a failure is looked at again at s = 1/2 and 1/4 first, where a
kink crossed at s = 1 often is not (a pass there is a trial with an allowance
2 or 4 times larger, counted in ``detectable``); a failure left is looked at
again at s = 2: inconsistent steps mean a kink was crossed (or truncation),
the trial is *ambiguous* and claims nothing; a consistent one fails. With magnitudes in [1, 2], for any error pattern with an entry above
tau, at most one sign of each v_j lets the trial pass: a trial misses with
probability at most 1/2, r clean trials with at most 2^-r.

``GroupTest`` is pure and deterministic: everything random comes from the
``numpy.random.Generator`` it is given, in the order it is used, and J comes
from a callback, so the same seed gives the same search on any engine.
"""

import numpy as np

PASS, FAIL, AMBIG = "pass", "fail", "ambiguous"
#: The bisection of a tensor stops as 'dense' once this deep with at least this
#: share of the tested halves failing: the coordinate check is cheaper there.
DENSE_DEPTH, DENSE_SHARE = 3, 0.9
#: A node with this many ambiguous trials outnumbering its passes is ambiguous.
AMBIG_TRIALS = 3
#: The shorter steps a clean test's failing trial is looked at again at
#: (fractions of the unit step), before the look at twice the step.
SHORTER = (0.5, 0.25)
#: Standard deviations of a float32 gradient's summed rounding a trial allows.
SLACK_SIGMAS = 8.0
#: Direction entries drawn and evaluated at once: a batch of whole-vector trials
#: over P = 10M holds one chunk of directions, not r (32 MB of deltas here).
CHUNK_ENTRIES = 1 << 22


class Found:
    """What a search found among its items: ``items``, the (a, b) ranges left
    failing or ambiguous at the leaves (or pending when the search stopped);
    ``diffuse``, ranges that failed while both their halves passed; ``stop``,
    how it ended ('exact', 'dense', 'budget'); ``outcomes``, the outcome of
    each (a, b) range tested."""

    def __init__(self):
        self.items, self.diffuse, self.stop, self.outcomes = [], [], "exact", {}


class GroupTest:
    """Trials and bisection over signed subset directions.

    Parameters
    ----------
    points : callable
        ``points(subsets, deltas) -> (j_plus (D,), j_minus (D,))``: J at
        theta + delta and theta - delta on each flat index array ``subsets[k]``
        (zero elsewhere).
    theta, grad, h : (P,) float64
        The parameters, the gradient under test and the step of each coordinate.
    tau : float
        The residual a trial may show on correct code (J units, at s = 1).
    repeats : int
        Clean trials needed to pass a subset.
    rng : numpy.random.Generator
        The only source of randomness.
    slack : (P,) float64 or None
        How far each gradient entry may be off by its own rounding (a float32
        backward pass), about one ulp of its tensor's largest entry; a trial
        allows ``SLACK_SIGMAS`` ||slack * d||_2 more: the rounding errors add
        up as a random sum, and a sum that large still fails consistently at
        two steps, so a rounding-sized failure costs a bisection, never blame.

    ``detectable`` is the smallest error in one coordinate every clean test
    passed so far was sure to see (its allowance over the coordinate's step,
    the largest over the clean tests): the bound the report gives.
    """

    def __init__(self, points, theta, grad, h, tau, repeats, rng, slack=None):
        self.points, self.theta, self.grad, self.h = points, theta, grad, h
        self.tau, self.repeats, self.rng = float(tau), int(repeats), rng
        self.slack = slack
        self.detectable = 0.0
        self._half = False       # look again at half the step (clean tests only)
        self.evaluations = 0
        self.clean_tests = 0     # subsets passed after r clean trials (each may miss 2^-r)

    def _residuals(self, subsets, deltas, scale, local):
        """rho (D,) at ``scale`` times the perturbations ``deltas``, and each
        trial's allowance; ``local[k]`` is (theta[S], grad[S]) of subset k."""
        j_plus, j_minus = self.points(subsets, [d * scale for d in deltas] if scale != 1.0
                                      else deltas)
        self.evaluations += 2 * len(subsets)
        # J's rounding in rho grows as 1 / scale below the unit step.
        rho, allowed = np.empty(len(subsets)), np.full(len(subsets), self.tau / min(1.0, scale))
        for k, (d, (base, g, slack)) in enumerate(zip(deltas, local)):
            moved = ((base + scale * d) - base) - ((base - scale * d) - base)
            rho[k] = (0.5 * (j_plus[k] - j_minus[k]) - 0.5 * (g @ moved)) / scale
            if slack is not None:
                allowed[k] += SLACK_SIGMAS * 0.5 * np.linalg.norm(slack * moved) / scale
        return rho, allowed

    def trials(self, subsets):
        """One trial on each flat index array of ``subsets``: PASS, FAIL or AMBIG each.

        Run in chunks of at most ``CHUNK_ENTRIES`` direction entries, so the
        directions held at once stay bounded whatever P and the repeats; the
        draws come from the generator in the same order either way."""
        outcome, sees, start = [], [], 0
        while start < len(subsets):
            stop, entries = start, 0
            while stop < len(subsets) and (stop == start
                                           or entries + subsets[stop].size <= CHUNK_ENTRIES):
                entries += subsets[stop].size
                stop += 1
            outcome += self._trials(subsets[start:stop])
            sees += self.sees
            start = stop
        self.sees = sees
        return outcome

    def _trials(self, subsets):
        deltas, local, cache = [], [], {}
        for S in subsets:
            # A subset's r trials share one array object: gather theta, grad, h once.
            if id(S) not in cache:
                cache[id(S)] = (self.theta[S], self.grad[S], self.h[S],
                                None if self.slack is None else self.slack[S])
            base, g, h, slack = cache[id(S)]
            w = self.rng.uniform(-1.0, 1.0, S.size)
            deltas.append(h * np.copysign(1.0 + np.abs(w), w))
            local.append((base, g, slack))
        rho1, tau = self._residuals(subsets, deltas, 1.0, local)
        # The smallest error in one coordinate of S this trial surely sees: its
        # allowance over the smallest step (|v_j| >= 1).
        self.sees = [t / float(np.min(cache[id(S)][2], initial=np.inf))
                     for t, S in zip(tau, subsets)]
        outcome = [PASS] * len(subsets)
        again = [k for k in range(len(subsets)) if abs(rho1[k]) > tau[k]]
        if again and self._half:
            # Clean tests only (inside a search an ambiguous half is split, so a
            # kink's coordinates end in the coordinate check, not in the next
            # clean test): a kink crossed at the unit step is often not crossed
            # at half of it. The same direction, half as long, is a trial in its
            # own right (an error above twice the allowance still shows there),
            # so a trial may pass there; it never fails there.
            for scale in SHORTER:
                if not again:
                    break
                rho_s, allowed = self._residuals([subsets[k] for k in again],
                                                 [deltas[k] for k in again], scale,
                                                 [local[k] for k in again])
                passed = {k for k, r, t in zip(again, rho_s, allowed) if abs(r) <= t}
                for k, t in zip(again, allowed):
                    if k in passed:
                        self.sees[k] = t / float(np.min(cache[id(subsets[k])][2],
                                                        initial=np.inf))
                again = [k for k in again if k not in passed]
        if again:
            rho2, _ = self._residuals([subsets[k] for k in again], [deltas[k] for k in again],
                                      2.0, [local[k] for k in again])
            for k, r2 in zip(again, rho2):
                if abs(r2 - rho1[k]) > 1.5 * tau[k]:
                    outcome[k] = AMBIG      # a kink (or truncation): split, never blame
                elif abs(r2) > 0.5 * tau[k]:
                    outcome[k] = FAIL       # the same at two steps: real
        return outcome

    def test(self, subsets, repeats=None):
        """The outcome of each subset: trials until ``repeats`` pass (PASS), one
        fails (FAIL) or ambiguous ones outnumber the passes (AMBIG).

        The first round draws one trial per subset, so a failing subset costs
        2-4 evaluations; subsets that passed it get the rest in one batch.
        ``repeats`` defaults to the test's own r; fewer (a quick test inside a
        search) count in no miss bound: the clean test that follows does.
        """
        full = repeats is None or repeats >= self.repeats
        repeats = self.repeats if repeats is None else int(repeats)
        self._half = full
        n = len(subsets)
        passes, ambig, result = [0] * n, [0] * n, [None] * n
        sees = [0.0] * n
        while True:
            todo = [k for k in range(n) if result[k] is None]
            if not todo:
                return result
            batch, owner = [], []
            for k in todo:
                first = passes[k] == 0 and ambig[k] == 0
                want = 1 if first or ambig[k] else repeats - passes[k]
                batch += [subsets[k]] * want
                owner += [k] * want
            for k, outcome, seen in zip(owner, self.trials(batch), self.sees):
                if result[k] is not None:
                    continue
                sees[k] = max(sees[k], seen)
                if outcome == FAIL:
                    result[k] = FAIL
                elif outcome == AMBIG:
                    ambig[k] += 1
                else:
                    passes[k] += 1
            for k in todo:
                if result[k] is not None:
                    continue
                if ambig[k] >= AMBIG_TRIALS and ambig[k] > passes[k]:
                    result[k] = AMBIG
                elif passes[k] >= repeats:
                    result[k] = PASS
                    self.clean_tests += full
                    if full:
                        self.detectable = max(self.detectable, sees[k])
                elif ambig[k] > 3 * repeats:
                    result[k] = AMBIG

    def search(self, count, subset, leaf, budget, repeats=None, dense=(DENSE_DEPTH, DENSE_SHARE)):
        """Bisect items 0..``count``-1 whose union failed (or was ambiguous).

        ``subset(a, b)`` gives the flat indices of items a..b-1; ranges of at
        most ``leaf`` items are not split further. FAIL and AMBIG halves are
        split again; a parent whose halves both pass is retested (FAIL: a
        'diffuse' block, PASS: an artifact). Stops 'dense' when most halves
        fail, 'budget' when ``budget`` evaluations are spent. Returns ``Found``.
        ``repeats`` are the clean trials of each half (``test``), ``dense`` the
        (depth, share of failed halves) at which the search stops as dense.
        """
        found, start = Found(), self.evaluations
        dense_depth, dense_share = dense
        level, depth, tested, failed = [(0, count)], 0, 0, 0
        while level:
            parents, children = [], []
            for a, b in level:
                if b - a <= leaf:
                    found.items.append((a, b))
                else:
                    mid = (a + b) // 2
                    parents.append((a, b))
                    children += [(a, mid), (mid, b)]
            if not children:
                break
            outcome = self.test([subset(a, b) for a, b in children], repeats)
            found.outcomes.update(zip(children, outcome))
            depth += 1
            tested += len(children)
            failed += outcome.count(FAIL)
            level, clean_pairs = [], []
            for p, parent in enumerate(parents):
                pair = outcome[2 * p:2 * p + 2]
                if pair == [PASS, PASS]:
                    clean_pairs.append(parent)
                level += [children[2 * p + c] for c in (0, 1) if pair[c] != PASS]
            if clean_pairs:
                again = self.test([subset(a, b) for a, b in clean_pairs], repeats)
                found.diffuse += [p for p, o in zip(clean_pairs, again) if o != PASS]
            if depth >= dense_depth and failed >= dense_share * tested and level:
                found.items += level
                found.stop = "dense"
                break
            if self.evaluations - start >= budget and level:
                found.items += level
                found.stop = "budget"
                break
        return found

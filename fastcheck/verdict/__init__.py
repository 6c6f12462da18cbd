"""The verdict: every rule that turns a check's numbers into words.

Inputs are numbers the engines produced (estimates, kink flags, one-sided
slopes at the coordinates that needed a closer look, the steps, J(theta));
outputs are the relative differences, each coordinate's error estimate and
judgement, the per-tensor statuses ("ok", "kinks", "unsure", "WRONG", "not
checked", "passed by directions"), the overall verdict ("pass", "kinks",
"unsure", "mistake") and the advice and notes a report carries. Nothing here estimates anything; the results it
builds (``fastcheck.report``) hold its numbers and words and decide nothing.

- ``norms``: norms and the seed's relative difference, per tensor too;
- ``precision``: how well the cost and the gradient are known, and notes on it;
- ``rules``: one coordinate's error estimate, allowance, first and closer look;
- ``closer``: the closer look's rounds (a tensor leaves them once shown WRONG)
  and how many more of a WRONG tensor's coordinates it confirms;
- ``coordinates``: the per-tensor table, rule 6, a coordinate check's result;
- ``directions``: a check along random directions;
- ``locate``: locate's trial threshold and its outcome;
- ``patterns``: what the numbers of a failed check show (a factor, a sign);
- ``words``: the advice each verdict gives.

How a coordinate is judged (tests/test_verdict.py pins each rule):

1. Its estimate comes with an error estimate: the cost is known to U, the
   larger of ``precision.NOISE_SAFETY`` times its measured noise
   (``fastcheck.planning.noise``) and ``ROUNDING_ULPS`` float64 ulps of |J|,
   or where the noise could not be measured ``ROUNDING_ULPS`` ulps of
   max(1, |J|) in the cost's own precision; a difference quotient with step
   h is known to U over h (times the method's constant); the complex step
   subtracts nothing and is known to rounding of the derivative itself.
   ``threshold`` adds a relative allowance.
2. |grad - estimate| within that is consistent, whatever the relative
   difference of a tiny or zero gradient says.
3. Beyond it, the check looks closer before blaming: one-sided slopes at h
   and h/2 on both sides. A smooth cost gives a Richardson estimate that
   settles truncation; a kink shows as extrapolated left and right slopes
   that disagree, and the gradient is then judged against the bracket they
   span (a subgradient inside is consistent, outside is a mistake).
4. A coordinate that needed the closer look but did not get one (the probe
   budget ran out) is "unsure": fastcheck says it cannot tell, never "WRONG".
   In a tensor already shown WRONG such coordinates change nothing, and the
   closer look stops there after a few (``closer``); a note counts them.
5. A gradient handed over in a coarser precision than float64, or computed
   from parameters in one (a float32 backward pass), is itself known only to
   rounding in that precision: ``precision.GRAD_ULPS`` of its ulps of the
   largest gradient entry is added to every allowance, at first sight and in
   the closer look.
6. A tensor whose largest allowance (its "detectable" error) is above
   ``rules.BLIND`` of its largest gradient or estimate entry is "unsure",
   never "ok", whatever the other tensors hold: an error of the gradient's
   own size could hide in it. The one waiver: a gradient that says 0 (every
   entry below ``BLIND`` of the detectable) where the detectable is below
   ``BLIND_FLOOR`` of the largest entry of the whole check (a bias before a
   batchnorm).
7. A tensor none of whose coordinates was compared is "not checked" (left
   out by only/exclude, or not sampled), or for ``locate``, "passed by
   directions"; never "ok".
"""

from .coordinates import judge, judge_naive
from .directions import judge_directions
from .inputs import unknown_key_notes
from .words import engine_reason
from .locate import judge_located, trial_threshold
from .norms import relative_difference
from .precision import (gradient_precision, gradient_rounding, measured_noise, precision_notes,
                        step_notes)
from .rules import (CONSISTENT, DEFAULT_THRESHOLD, KINK, MISTAKE, PROBE_SECONDS, SMOOTH,
                    UNRESOLVED, first_look, judge_probes, resolve_threshold)

__all__ = ["CONSISTENT", "SMOOTH", "KINK", "MISTAKE", "UNRESOLVED", "DEFAULT_THRESHOLD",
           "PROBE_SECONDS", "first_look", "gradient_precision", "gradient_rounding",
           "judge", "judge_directions", "judge_located", "judge_naive", "judge_probes",
           "measured_noise", "precision_notes", "relative_difference", "resolve_threshold",
           "step_notes", "trial_threshold", "unknown_key_notes", "engine_reason"]

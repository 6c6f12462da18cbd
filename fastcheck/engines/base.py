"""What every engine returns, and the base class."""

from typing import NamedTuple

import numpy as np

from .probe import one_sided


class Block(NamedTuple):
    """One block's results, n items of a pass: ``out``, the pass's values
    ((n,) estimates of ``block``, (n, 4) slopes of ``slopes``, (n, 2) J at
    theta +- delta of ``points``; NaN where the cost failed) and the kink flags
    (n,) (True where a step crosses a kink the engine can see). ``error`` is
    the exception a compiled cost raised, if any: the driver names the item
    from the first row left NaN. ``ran`` counts the items each engine ran
    ({name: items}) where an engine handed some to another (None: all its own)."""

    out: np.ndarray
    kinks: np.ndarray
    error: BaseException = None
    ran: dict = None


def empty_block(n, width=None):
    """A block's outputs before the kernel fills them: NaN values ((n,), or
    (n, width)), so a compiled cost that raised on a worker thread (and lost
    its exception there) is caught by the driver's finiteness check."""
    shape = (n,) if width is None else (n, width)
    return Block(np.full(shape, np.nan), np.zeros(n, dtype=bool))


class Closer(NamedTuple):
    """What the closer look needs: ``evaluate(theta, where)`` (the adapter's
    fastest twin of its evaluation), theta (P,), the layout (for messages) and
    J at theta."""

    evaluate: object
    theta: np.ndarray
    layout: object
    j0: float


class Engine:
    """Base of the engines.

    ``name`` is what reports call it; ``parallel`` says whether it runs Numba
    threads (then the driver holds BLAS to one thread while it runs).
    ``closer`` (a ``Closer``) is set by the adapter that builds the engine.

    Its passes, each pure, run by the drivers a block at a time, each
    described by a record of ``engines.passes.PASSES``: ``block``, ``slopes``
    and ``points``.
    """

    name = "engine"
    parallel = False
    closer = None

    def late_notes(self):
        """The report's notes on what the engine changed during the check (none)."""
        return ()

    def block(self, idx, h):
        """Estimates for flat indices ``idx`` (n,) int64 with steps ``h`` (n,)."""
        raise NotImplementedError

    def slopes(self, idx, h):
        """The closer look at flat indices ``idx`` (n,) with real steps ``h`` (n,):
        a ``Block`` whose ``out`` (n, 4) holds the one-sided slopes R(h), R(h/2),
        L(h), L(h/2) (``engines.probe.one_sided``)."""
        c = self.closer
        return Block(one_sided(c.evaluate, c.theta, c.layout, idx, h, c.j0),
                     np.zeros(idx.shape[0], dtype=bool))

    def points(self, ptr, idx, delta):
        """J at theta +- delta along directions d = 0..D-1, whose entries are
        ``idx[ptr[d]:ptr[d + 1]]`` (flat indices) perturbed by
        ``delta[ptr[d]:ptr[d + 1]]``, for ``fastcheck.locate``: a ``Block``
        whose ``out`` (D, 2) holds J(theta + delta_d), J(theta - delta_d)."""
        raise NotImplementedError


def points_block(j_plus, j_minus, error=None):
    """The ``Block`` of a ``points`` pass from its (D,) values at theta +- delta."""
    return Block(np.column_stack((j_plus, j_minus)), np.zeros(j_plus.shape[0], dtype=bool),
                 error)


def stencil_loop(engine, method, loops):
    """``loops[kind]`` for the kind of ``method``'s stencil (``planning.methods``),
    or ``ValueError``: an engine never runs another method than the one asked."""
    kind = method.stencil.kind
    if kind not in loops:
        raise ValueError(f"the {engine} engine has no loop for {kind!r} stencils "
                         f"(method {method.name!r}); it runs {', '.join(map(repr, loops))}")
    return loops[kind]

"""A cost that counts its calls: the evaluations a run really made, counted
outside fastcheck (its own ``evaluations`` figure is what the tests check)."""


class Counted:
    """``cost``, counting its calls in ``calls``."""

    def __init__(self, cost):
        self.cost, self.calls = cost, 0

    def __call__(self, *args):
        self.calls += 1
        return self.cost(*args)

"""Tiered runs: the local driver's blocks move to a faster engine between blocks."""

import numpy as np

from fastcheck.drivers.blocks import run_blocks
from fastcheck.engines.base import Block
from fastcheck.engines.passes import pass_record


class Fixed:
    """An engine whose estimate at coordinate i is i + offset (offset 0 for both,
    as a compiled cost agrees with Python's)."""

    parallel = False

    def __init__(self, name):
        self.name, self.calls = name, 0

    def block(self, idx, h):
        self.calls += 1
        return Block(idx.astype(float), np.zeros(idx.size, dtype=bool))


def test_blocks_move_to_the_faster_engine_and_count_where_items_ran():
    slow, fast = Fixed("python"), Fixed("generic")
    asked = []

    def switch():
        asked.append(1)
        return fast if len(asked) == 2 else None  # ready after the second block

    n = 200
    tally = {}
    out, kinks, done = run_blocks(slow, pass_record("block"), (np.arange(n), np.ones(n)),
                                  describe=str, first=4, switch=switch, tally=tally)
    assert done == n and np.array_equal(out, np.arange(n))  # the same values, either engine
    assert slow.calls == 2 and fast.calls >= 1
    assert tally["python"] == 4 + 16 and tally["python"] + tally["generic"] == n


def test_no_switch_keeps_one_engine():
    slow = Fixed("python")
    tally = {}
    run_blocks(slow, pass_record("block"), (np.arange(10), np.ones(10)), describe=str,
               first=4, switch=lambda: None, tally=tally)
    assert tally == {"python": 10}

"""The shipped examples run as scripts and print what the README says."""

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def run(name):
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_one_d_reproduces_the_published_difference():
    assert "difference = 2.919335883291695e-10 (published: 2.919335883291695e-10)" \
        in run("one_d.py")


def test_three_layer_reproduces_and_localises():
    out = run("three_layer.py")
    assert "difference = 0.2850931567761623 (published: 0.2850931567761623)" in out
    assert "wrong tensors: ['b1', 'W2']" in out
    assert "passed = True" in out


def test_user_cost_passes_then_catches_the_slip():
    out = run("user_cost.py")
    passed, failed = out.split("\n\n", 1)[0], out
    assert passed.startswith("fastcheck PASSED")
    assert "fastcheck FAILED" in failed and "wrong gradient in: b1\n" in failed

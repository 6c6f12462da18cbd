"""The ``fastcheck`` command line end to end, through its real entry points
(the console script and ``python -m``); the rest of the CLI is tested in process."""

import shutil
import subprocess
import sys

import pytest

# The seed's published figures as the demo prints them (6 significant digits):
# 1-D 2.919335883291695e-10, planted 0.2850931567761623, fixed 1.1890913024229996e-07.
PUBLISHED_LEADING_DIGITS = ["2.919336e-10", "2.850932e-01", "1.189091e-07"]


def run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def console_script():
    """The installed ``fastcheck`` console script (pip install -e . puts it on PATH)."""
    path = shutil.which("fastcheck")
    assert path is not None, "the fastcheck console script is not on PATH"
    return path


def test_demo_prints_the_published_figures(console_script):
    """`fastcheck demo` exits 0 and shows the published differences and a WRONG tensor."""
    done = run([console_script, "demo"])
    assert done.returncode == 0, done.stderr
    for figure in PUBLISHED_LEADING_DIGITS:
        assert figure in done.stdout, figure
    assert "WRONG" in done.stdout
    assert "Traceback" not in done.stderr


def test_no_command_is_a_usage_error():
    """`python -m fastcheck` with no arguments exits 2 with a usage message, no traceback."""
    done = run([sys.executable, "-m", "fastcheck"])
    assert done.returncode == 2
    assert "usage" in done.stderr.lower()
    assert "Traceback" not in done.stderr

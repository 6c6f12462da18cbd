"""Run the ``fastcheck`` command line in this process, as the console script would.

Calling ``fastcheck.app.cli.main(argv)`` tests the same parsing, checks and
exit statuses as a subprocess, without paying ~2 s of interpreter and Numba
start-up per call; tests/test_cli.py keeps the end-to-end subprocess runs.
"""

import contextlib
import io
from typing import NamedTuple

from fastcheck.app.cli import main


class Done(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run_cli(*argv):
    """``fastcheck ARGV...``: its exit status and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in argv])
        except SystemExit as exc:  # argparse's own exits (usage errors, --help)
            code = exc.code
    return Done(code, out.getvalue(), err.getvalue())

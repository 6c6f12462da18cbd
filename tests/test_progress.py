"""Where a default progress bar (progress=None) shows: a terminal or a Jupyter
kernel, never a log file or a pipe (the kernel itself: tests/test_notebook.py)."""

import io
import sys

import tqdm.std

from fastcheck.drivers import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_pipe_gets_no_default_bar(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.in_notebook()
    assert not progress.visible()


def test_a_terminal_gets_the_text_bar(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress.visible()
    bar = progress.progress_bar(10, "fastcheck python")
    bar.update(4)
    bar.close()
    assert type(bar) is tqdm.std.tqdm
    assert "fastcheck python" in sys.stderr.getvalue() and "/10" in sys.stderr.getvalue()


def test_a_closed_stderr_gets_no_bar(monkeypatch):
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    assert not progress.visible()

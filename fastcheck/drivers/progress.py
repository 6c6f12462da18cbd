"""Progress bars where users work: a terminal, or a Jupyter notebook.

In a terminal the bar is tqdm's text bar on stderr, shown by default only when
stderr is a terminal (a log file or a pipe gets no bar). In a Jupyter kernel
stderr is never a terminal, yet the user is watching: the bar is tqdm's
notebook widget when ipywidgets is installed, its text bar on the cell's
stderr otherwise. Nothing here imports ``tqdm.auto`` or ``tqdm.notebook`` at
import time: ``tqdm.auto`` warns at import in a kernel without ipywidgets.

Every driver shows its passes through one ``Progress``, under one policy.
"""

import sys
import time

#: A run expected to take longer than this shows a progress bar (progress=None).
PROGRESS_AFTER_SECONDS = 1.0


def in_notebook():
    """True when running in a Jupyter kernel (ipykernel's shell), not a terminal IPython."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def visible():
    """Whether a default progress bar (``progress=None``) would be seen: stderr is a
    terminal, or this is a Jupyter kernel."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        tty = False
    return tty or in_notebook()


def _has_widgets():
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def progress_bar(total, label, unit="coord"):
    """A tqdm bar over ``total`` ``unit``s (None: a counter) described as
    ``label``: a notebook widget in a Jupyter kernel that has ipywidgets, else
    the text bar on stderr."""
    if in_notebook() and _has_widgets():
        from tqdm.notebook import tqdm
        return tqdm(total=total, unit=unit, desc=label, leave=False)
    from tqdm.std import tqdm
    return tqdm(total=total, unit=unit, desc=label, file=sys.stderr, leave=False)


class Progress:
    """A driver's bar over the items of one pass, counted in ``unit``, over
    every run of the pass (``fastcheck.locate`` runs its directions in many
    small batches: one bar counts them all).

    Opened when ``progress`` is True, or when it is None, the items expected so
    far are predicted (from the time the finished ones took) to take more than
    ``PROGRESS_AFTER_SECONDS`` and someone can see the bar (``visible``).
    """

    def __init__(self, progress, label, unit):
        self.progress, self.label, self.unit = progress, label, unit
        self.bar, self.total, self.done, self.start = None, 0, 0, time.perf_counter()

    def expect(self, n):
        """``n`` more items are coming (a run starts)."""
        self.total += n
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def advance(self, n):
        """``n`` items are done."""
        self.done += n
        if self.bar is None and self.due():
            # A new bar starts at ``done``: these items are already counted.
            self.bar = progress_bar(self.total, self.label, unit=self.unit)
            self.bar.update(self.done)
        elif self.bar is not None:
            self.bar.update(n)

    def due(self):
        """Whether the bar should open now."""
        if self.progress is not None:
            return bool(self.progress)
        expected = (time.perf_counter() - self.start) * self.total / max(self.done, 1)
        return expected >= PROGRESS_AFTER_SECONDS and visible()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Bars:
    """A driver's progress: the ``Progress`` of the pass running now, labelled
    ``label``; a run of another pass closes it and opens its own."""

    def __init__(self, progress, label):
        self.progress, self.label = progress, label
        self.name, self.current = None, None

    def of(self, name, unit):
        """The ``Progress`` of pass ``name``, counted in ``unit``."""
        if self.name != name:
            self.close()
            self.name, self.current = name, Progress(self.progress, self.label, unit)
        return self.current

    def close(self):
        if self.current is not None:
            self.current.close()
            self.name, self.current = None, None

"""Progress bars where users work: a terminal, or a Jupyter notebook.

In a terminal the bar is tqdm's text bar on stderr, shown by default only when
stderr is a terminal (a log file or a pipe gets no bar). In a Jupyter kernel
stderr is never a terminal, yet the user is watching: the bar is tqdm's
notebook widget when ipywidgets is installed, its text bar on the cell's
stderr otherwise. Nothing here imports ``tqdm.auto`` or ``tqdm.notebook`` at
import time: ``tqdm.auto`` warns at import in a kernel without ipywidgets.
"""

import sys


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

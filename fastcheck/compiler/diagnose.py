"""Turn Numba's compile errors into one line: the user's file, line, source and the cause
(or, for code generated from a traced record, the generated file)."""

import linecache
import os
import re

from ..errors import CompileError, source_place

# Numba highlights its messages with terminal colour codes when it thinks it may.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Numba names a location as 'File "x.py", line 14:' or 'at /abs/x.py (14)'.
_LOCATION = re.compile(r'File "([^"]+)", line (\d+)|\bat (\S+\.py) \((\d+)\)')


def location(filename, lineno):
    """``name.py:14: "source text"`` for a line of a user's file."""
    text = linecache.getline(filename, lineno).strip() if filename else ""
    place = source_place(filename, lineno)
    return f'{place}: "{text}"' if text else place


def def_location(code):
    """The location of the ``def`` line of a code object (decorators skipped)."""
    lineno = code.co_firstlineno
    while linecache.getline(code.co_filename, lineno).lstrip().startswith("@"):
        lineno += 1
    return location(code.co_filename, lineno)


def is_dynamic_key(exc):
    """True if Numba refused a dict key computed at run time on a literal dict."""
    return "on a literal dictionary" in str(exc)


def compile_error(exc, code, lines, dynamic_key_hint="", complex_step=False):
    """A one-line ``CompileError`` for ``exc``, raised while compiling the cost ``code``.

    ``lines`` are the ``(real path, line)`` of the user's code (the cost and its
    helpers): the innermost location among them is the line to show. (Numba
    also names line 1 of a user's file for code it synthesises, such as the
    kernel of an array expression; those are not lines of the cost.) Numba prints
    the innermost failure first and then the chain of callers, so the first
    user location in its text is where the cost stopped compiling.
    """
    text = _ANSI.sub("", str(exc))
    where = _where(text, lines) or def_location(code)
    cause = _cause(text)
    if is_dynamic_key(exc):
        cause = ("a parameter key is computed at run time (params[\"W\" + str(l)]); "
                 + dynamic_key_hint)
    elif complex_step and "complex" in cause:
        cause += "; this cost cannot run in complex arithmetic, so the complex step cannot check it"
    error = CompileError(" ".join(f"{where}: {cause}".split()))
    error.detail = text
    return error


def record_error(exc, path):
    """A one-line ``CompileError`` for ``exc``, raised while compiling the code
    generated from a traced record at ``path``: the code is fastcheck's, so the
    line names Numba's first line and the file to read."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc)
    error = CompileError(f"the record of the cost did not compile with Numba ({first}); "
                         f"see {path}")
    error.detail = str(exc)
    return error


def first_line(error):
    """The first line of ``error``'s text, without Numba's colour codes."""
    return _ANSI.sub("", str(error)).strip().splitlines()[0]


def _where(text, lines):
    """``file:line: "source"`` of the first location in ``text`` among ``lines``."""
    for match in _LOCATION.finditer(text):
        filename = match.group(1) or match.group(3)
        lineno = int(match.group(2) or match.group(4))
        path = os.path.realpath(os.path.join(os.getcwd(), filename))
        if (path, lineno) in lines:
            return location(path, lineno)
    return None


_RULES = [
    (re.compile(r"Use of unsupported NumPy function '(?:numpy\.)?([\w.]+)'"),
     lambda m: f"Numba cannot compile np.{m.group(1)}"),
    # NumPy as the shims' stand-in module (``source``) is named numpy: say np.
    (re.compile(r"Unknown attribute '(\w+)' of type Module\(<module '([\w.]+)'"),
     lambda m: f"Numba cannot compile {re.sub('^numpy', 'np', m.group(2))}.{m.group(1)}"),
    (re.compile(r"Untyped global name '(\w+)': Cannot determine Numba type of "
                r"<class 'function'>"),
     lambda m: (f"{m.group(1)} is a Python function of the standard library, NumPy, "
                "SciPy or Numba that Numba cannot call")),
    (re.compile(r"Untyped global name '(\w+)': Cannot determine Numba type of "
                r"<class '([\w.]+)'>"),
     lambda m: (f"{m.group(1)} is a {m.group(2).removeprefix('__main__.')}, which Numba "
                "cannot compile (Numba takes numbers, arrays and functions, not other objects or their "
                "methods)")),
    (re.compile(r"use of yield in a closure|[Gg]enerator"),
     lambda m: ("Numba cannot compile this generator expression; write a loop or use a "
                "NumPy reduction")),
    (re.compile(r"No implementation of function (.+?) found for signature:\s*>>> ([^\n]+)"),
     lambda m: f"Numba has no implementation of {m.group(2).strip()}"),
]

_NOISE = ("Failed in ", "During:", "File ", "<source elided>")


def _cause(text):
    """The real cause in Numba's text, in the user's words where a rule knows them."""
    for pattern, say in _RULES:
        match = pattern.search(text)
        if match:
            return say(match)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(_NOISE):
            return line[:300]
    return "Numba cannot compile this cost"

"""Machine-code names that no other process can also give.

Numba names a compiled function's machine code after its module, its qualified
name, its argument types and a number from a per-process counter
(``FunctionIdentity._unique_ids``, which starts at 1 in every process). Code
loaded from the disk cache keeps the names the writing process gave it, and
when two loaded libraries define one name, the process links the first
definition for both.

fastcheck loads, into one process, cached code written by many processes:
every cold compile of a cost runs in a fresh interpreter (``compiler.budget``),
and earlier runs wrote the rest. Fresh interpreters that compile the same
sequence of functions number them alike, so two functions with one module and
qualified name got one machine-code name in two children: fastcheck's own
typing shims of ``np.sum`` and ``np.mean`` are both generated as ``impl``
(``compiler.shims``), and once the command line had compiled a cost calling
``np.mean`` in one process, a closure compiled as ``np.sum(...) * scale`` ran
the mean's code: 1/10 of its value on 10 elements.

``distinct()`` starts the counter of this process at a random point of a range
of 2**62, so that the numbers of two processes meet with a chance of about
(functions compiled)**2 / 2**62. It is called at ``import fastcheck`` and again
in a forked child, which would otherwise go on counting as its parent does.
Numbers within one process stay sequential, so they never meet there.
"""

import itertools
import secrets

from numba.core.bytecode import FunctionIdentity

#: The counter starts at a random point below this, above 2**32 (the numbers a
#: process that never called ``distinct`` gives stay below that).
_RANGE = 2**62


def distinct():
    """Start this process's Numba function counter at a random point."""
    FunctionIdentity._unique_ids = itertools.count(2**32 + secrets.randbelow(_RANGE))

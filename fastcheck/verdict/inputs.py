"""Notes on what a check was handed: gradient keys that name no parameter.

``grads`` may carry the backward pass's intermediates (the exercise's ``dA1``,
``dZ2``), which are ignored in silence; any other key that matches no
parameter is probably a typo or a parameter left out of ``params``, and the
check says so, with the closest parameter name.
"""

import difflib
import re

from .words import listed

#: The exercise's cached intermediates: gradients of activations, not parameters.
_INTERMEDIATE = re.compile(r"^d?[AZ]\d*$")


def unknown_key_notes(names, grads):
    """Notes (list of str) naming the keys of ``grads`` (a mapping) that are neither
    a parameter of ``names`` nor ``d`` + one, nor an intermediate (``dA1``, ``dZ2``),
    each with the closest parameter name where one is close."""
    known = set(names) | {"d" + name for name in names}
    unknown = [key for key in map(str, grads) if key not in known
               and not _INTERMEDIATE.match(key)]
    if not unknown:
        return []
    plain = {_plain(name): name for name in reversed(list(names))}
    said = []
    for key in unknown:
        bare = _plain(key[1:] if key.startswith("d") and len(key) > 1 else key)
        close = difflib.get_close_matches(bare, list(plain), n=1, cutoff=0.6)
        said.append(f"{key!r} (closest parameter: {plain[close[0]]!r})" if close else repr(key))
    return [f"grads has {'a key' if len(unknown) == 1 else 'keys'} that no parameter has, "
            f"ignored: {listed(said)}; a typo, or a parameter missing from params?"]


def _plain(name):
    """``name`` compared as a typo would be: lower case, without ``_`` and ``.``."""
    return re.sub(r"[_.]", "", name).lower()

"""``fastcheck check FILE.py:COST``: a user's own cost, from the shell.

The file is imported as a module, as ``python FILE.py`` would find its
neighbours (its folder first on ``sys.path``), and ``COST`` is looked up in
it; the parameters, gradients and data come from ``numpy.savez`` archives.
fastcheck's messages name Python keywords (``sample=None``); ``shell_words``
says them as the command line's flags.
"""

import importlib.util
import pathlib
import re
import sys


class LoadError(Exception):
    """The cost named on the command line cannot be loaded."""


def load_cost(spec):
    """The callable that ``spec``, ``path/to/file.py:name``, names."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise LoadError(f"expected the cost as FILE.py:NAME, such as my_cost.py:cost, "
                        f"got {spec!r}")
    file = pathlib.Path(path).resolve()
    if not file.is_file():
        raise LoadError(f"cannot read {path}: no such file")
    module = _import(file)
    cost = getattr(module, name, None)
    if cost is None:
        found = sorted(key for key, value in vars(module).items()
                       if callable(value) and not key.startswith("_")
                       and getattr(value, "__module__", None) == module.__name__)
        raise LoadError(f"{path} has no {name!r}; its functions are "
                        f"{', '.join(found) or 'none'}")
    if not callable(cost):
        raise LoadError(f"{path}:{name} is a {type(cost).__name__}, not a function")
    return cost


def _import(file):
    """``file`` imported as a module under its own name (a name already taken by
    another module gets a prefix), its folder first on ``sys.path``."""
    name = file.stem if file.stem.isidentifier() else "user_cost"
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(file):
        name = f"fastcheck_user_{name}"
    sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise LoadError(f"importing {file.name} raised {type(exc).__name__}: {exc}") from None
    return module


def pickle_by_value(cost):
    """Have Dask workers receive ``cost``'s module by value: it was imported from a
    path, so the workers could not import it by name."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[cost.__module__])


#: fastcheck's keyword -> the command line's flag.
FLAGS = {"sample": "--sample", "eps": "--eps", "threshold": "--threshold",
         "method": "--method", "engine": "--engine", "threads": "--threads",
         "workers": "--workers", "only": "--only", "exclude": "--exclude", "seed": "--seed",
         "n": "--directions"}
_NONE = re.compile(r"\b(?:(use|or) )?(\w+)=None\b")
_KEYWORD = re.compile(r"\b(" + "|".join(FLAGS) + r")=('?)([^\s,;')]*)\2")
_SUBJECT = re.compile(r"(^|; )(" + "|".join(FLAGS) + r") (must|takes|names)\b")
_JIT = {"jit=True": "--jit", "jit=False": "--no-jit"}
# NumPy 2 spells its scalars np.int64(4) in a repr.
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:u?int|float|bool_?)\d*\(([^()]*)\)")


def shell_words(message):
    """``message`` with fastcheck's Python spellings as command-line flags:
    "sample=100" -> "--sample 100", "use sample=None" -> "leave out --sample",
    "threads must be" -> "--threads must be", "jit=False" -> "--no-jit",
    "np.int64(4)" -> "4"."""
    message = _NUMPY_SCALAR.sub(r"\1", message)
    message = _NONE.sub(lambda m: f"{'or ' if m.group(1) == 'or' else ''}leave out "
                        f"{FLAGS.get(m.group(2), m.group(2))}", message)
    message = _KEYWORD.sub(lambda m: f"{FLAGS[m.group(1)]} {m.group(3)}".rstrip(), message)
    message = _SUBJECT.sub(lambda m: f"{m.group(1)}{FLAGS[m.group(2)]} {m.group(3)}", message)
    for python, flag in _JIT.items():
        message = message.replace(python, flag)
    return message

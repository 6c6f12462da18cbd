"""The ``fastcheck`` command line: ``demo``, ``check``, ``bench`` and ``cache``.

``fastcheck check`` checks a built-in MLP built from flags, or a user's own
cost, ``fastcheck check FILE.py:COST --params P.npz --grads G.npz [--args D.npz]``.

Exit status: 0 when every check it ran passed or the command succeeded, 1 when
a check failed, 2 for bad usage (bad flags, unreadable files, a fastcheck
error, a network or an archive too large for this machine's memory), with a
one-line message ``fastcheck: error: ...`` and no traceback; with ``--json``,
stdout also carries the message as a JSON object ``{"error": ...}``.
"""

import argparse
import json
import math
import os
import sys
import zipfile
import zlib

import numpy as np

from fastcheck import __version__
from fastcheck.check import check
from fastcheck.planning.methods import METHODS
from fastcheck.costs import ENGINES
from fastcheck.directions import check_directions
from fastcheck.errors import FastcheckError, MemoryBudgetError
from fastcheck.locate import locate
from fastcheck.runtime.memory import available_bytes, ensure_fits, format_bytes
from fastcheck.models import HIDDEN, LOSSES, MLP, problem_bytes

from . import bench, cachecmd, demo, owncost, registry
from .registry import random_problem

#: The output activation that goes with each loss, and back.
OUTPUT_OF = {loss: output for loss, (output, _, _) in LOSSES.items()}
LOSS_OF = {output: loss for loss, output in OUTPUT_OF.items()}
BUG_OPS = ("scale", "add")
#: The model's flags and their defaults; a user's own cost takes none of them.
MODEL_DEFAULTS = {"sizes": [784, 64, 10], "hidden": "relu", "output": None, "loss": None,
                  "l2": 0.0, "batch": 32, "data": None, "bug": None}
#: What reading an archive can raise: a missing or truncated file, a bad zip, a
#: corrupted compressed member (zlib.error), a bad .npy header.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


class UsageError(Exception):
    """A mistake in the command line that only the command line can see."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are ``UsageError``s: ``main`` reports them in one line,
    ``fastcheck: error: ...`` (and as JSON with ``--json``), exit status 2."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help' for usage)")


# -- argument types: each raises ArgumentTypeError, which argparse reports ------

def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seed_value(text):
    # NumPy's generators take seeds >= 0 only.
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def layer_sizes(text):
    """'784,64,10' -> [784, 64, 10]."""
    try:
        sizes = [positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError:
        sizes = []
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"expected at least two positive layer widths "
                                         f"separated by commas (inputs first), got {text!r}")
    return sizes


def hidden_activations(text):
    """'relu' -> 'relu'; 'relu,tanh' -> ['relu', 'tanh'], one per hidden layer."""
    names = text.split(",")
    unknown = [name for name in names if name not in HIDDEN]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown activation {unknown[0]!r}; use "
                                         f"{', '.join(HIDDEN)}, or a comma-separated list")
    return names[0] if len(names) == 1 else names


def sample_size(text):
    """'200' -> 200 coordinates; '0.1' -> a tenth of them (check validates the value)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {text!r}") \
                from None


def tensor_names(text):
    """'W1,b1' -> ['W1', 'b1']."""
    names = [name for name in text.split(",") if name]
    if not names:
        raise argparse.ArgumentTypeError(f"expected tensor names separated by commas, "
                                         f"got {text!r}")
    return names


def bug_spec(text):
    """'W2:scale=2' -> ('W2', 'scale', 2.0); also 'b1:add=0.1'."""
    name, _, change = text.partition(":")
    op, _, value = change.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = None
    if not name or op not in BUG_OPS or number is None or not np.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected TENSOR:scale=FACTOR or TENSOR:add=VALUE, "
                                         f"such as W2:scale=2, got {text!r}")
    return name, op, number


# -- commands ------------------------------------------------------------------

def _demo(args):
    demo.run()
    return 0


def _check(args):
    if args.locate and (args.directions is not None or args.method or args.sample):
        raise UsageError("--locate searches with its own directions and takes no "
                         "--directions, --method or --sample")
    if args.directions is not None and check_options(args):
        raise UsageError(f"--directions checks along random directions and takes no "
                         f"{', '.join('--' + key for key in check_options(args))}")
    if args.cost is not None:
        return _check_own(args)
    given = {key: getattr(args, key) for key in MODEL_DEFAULTS}
    for key, value in MODEL_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for flag in ("args", "jit"):
        if getattr(args, flag) is not None:
            raise UsageError(f"--{flag} goes with your own cost: fastcheck check FILE.py:COST "
                             "--params P.npz --grads G.npz ...")
    ensure_network_fits(args.sizes, args.batch)
    loss = args.loss or LOSS_OF.get(args.output, "bce")
    model = MLP(args.sizes, hidden=args.hidden, output=args.output or OUTPUT_OF[loss],
                loss=loss, l2=args.l2)
    params, X, Y = random_problem(model, args.batch, args.seed)
    if args.params:
        params = load_npz(args.params, "--params")
        if given["sizes"] is None:
            hint_sizes(params, args.sizes, args.params)
    if args.data:
        data = load_npz(args.data, "--data")
        missing = [key for key in ("X", "Y") if key not in data]
        if missing:
            raise UsageError(f"--data {args.data} has no {' or '.join(missing)} array; it "
                             f"holds {', '.join(data) or 'nothing'}")
        X, Y = data["X"], data["Y"]
    grads = load_npz(args.grads, "--grads") if args.grads else model.backward(params, X, Y)
    grads = plant(grads, args.bug or [], model.layout.names)

    if args.locate:
        options = {key: value for key, value in (("engine", args.engine),
                                                 ("threads", args.threads)) if value is not None}
        res = locate(model, params, grads, X, Y, eps=args.eps, threshold=args.threshold,
                     seed=args.seed, **options)
    elif args.directions is not None:
        res = check_directions(model, params, grads, X, Y, n=args.directions, seed=args.seed,
                               eps=args.eps, threshold=args.threshold)
    else:
        options = check_options(args)
        res = check(model, params, grads, X, Y, eps=args.eps, threshold=args.threshold,
                    seed=args.seed, **options)
    if args.json:
        print(json.dumps(res.to_dict()))
    else:
        print(f"checking {describe_model(model)} on {np.shape(X)[1]} examples: "
              f"{describe_source(args)}\n{res}")
    return 0 if res.passed else 1


def _check_own(args):
    """``fastcheck check FILE.py:COST``: the user's cost on their own arrays."""
    flags = [f"--{key}" for key in MODEL_DEFAULTS
             if getattr(args, key) is not None]
    if flags:
        raise UsageError(f"{', '.join(flags)} describe{'s' if len(flags) == 1 else ''} a "
                         f"built-in model; checking {args.cost} takes none "
                         f"(its data go in --args D.npz)")
    missing = [flag for flag, value in (("--params", args.params), ("--grads", args.grads))
               if value is None]
    if missing:
        raise UsageError(f"checking {args.cost} needs {' and '.join(missing)} (numpy.savez "
                         "archives of your parameters and their gradients)")
    try:
        cost = owncost.load_cost(args.cost)
    except owncost.LoadError as exc:
        raise UsageError(str(exc)) from None
    params, grads = load_npz(args.params, "--params"), load_npz(args.grads, "--grads")
    data = list(load_npz(args.args, "--args").values()) if args.args else []
    if args.workers is not None:
        owncost.pickle_by_value(cost)
    if args.locate:
        res = locate(cost, params, grads, *data, eps=args.eps, threshold=args.threshold,
                     seed=args.seed, **check_options(args))
    elif args.directions is not None:
        res = check_directions(cost, params, grads, *data, n=args.directions, seed=args.seed,
                               eps=args.eps, threshold=args.threshold)
    else:
        res = check(cost, params, grads, *data, eps=args.eps, threshold=args.threshold,
                    seed=args.seed, **check_options(args))
    if args.json:
        print(json.dumps(res.to_dict(), allow_nan=False))
    else:
        arrays = f", {len(data)} arguments from {args.args}" if data else ""
        print(f"checking {args.cost}: params from {args.params}, gradients from "
              f"{args.grads}{arrays}\n{res}")
    return 0 if res.passed else 1


def check_options(args):
    """The keywords of ``fastcheck.check`` that the command line gave."""
    return {key: value for key, value in vars(args).items()
            if key in ("method", "sample", "engine", "threads", "only", "exclude", "jit",
                       "workers") and value is not None}


def hint_sizes(params, sizes, path):
    """``UsageError`` with the ``--sizes`` that fit ``params`` (W1, W2, ... of shapes
    (n1, n0), (n2, n1), ...) when the default ``sizes`` do not."""
    shapes = [np.shape(params.get(f"W{k}")) for k in range(1, len(params) + 1)
              if f"W{k}" in params]
    fits = [shapes[0][1]] + [shape[0] for shape in shapes] if shapes and all(
        len(shape) == 2 for shape in shapes) else None
    if fits and fits != list(sizes):
        raise UsageError(f"--params {path} holds a network of layer widths "
                         f"{','.join(map(str, fits))}, but without --sizes the model is "
                         f"{','.join(map(str, sizes))}: add --sizes {','.join(map(str, fits))}"
                         ", or check your own cost with fastcheck check FILE.py:COST")


def describe_model(model):
    """'MLP [784, 64, 10] (hidden relu, output sigmoid, loss bce)', and l2 when set."""
    hidden = f"hidden {','.join(model.hidden)}, " if model.hidden else ""
    l2 = f", l2 {model.l2:g}" if model.l2 else ""
    return f"MLP {model.sizes.tolist()} ({hidden}output {model.output}, loss {model.loss}{l2})"


def describe_source(args):
    """Where the parameters, data and gradients came from, in words."""
    parts = [f"params from {args.params}" if args.params else f"params from seed {args.seed}",
             f"data from {args.data}" if args.data else f"random data from seed {args.seed}",
             f"gradients from {args.grads}" if args.grads else "the model's exact backward"]
    bugs = [f"{name} {'times' if op == 'scale' else 'plus'} {value:g}"
            for name, op, value in args.bug or []]
    return ", ".join(parts) + (f", with {' and '.join(bugs)}" if bugs else "")


def ensure_network_fits(sizes, batch):
    """``UsageError`` unless a check of ``MLP(sizes)`` on ``batch`` examples fits in
    memory (``fastcheck.models.problem_bytes``), said before the model, which
    allocates its tensors, or its data exist."""
    needed = problem_bytes(sizes, batch)
    what = f"--sizes {','.join(map(str, sizes))} with --batch {batch}"
    try:
        ensure_fits(needed, what)
    except MemoryBudgetError:
        raise UsageError(f"{what} needs about {format_bytes(needed)} of memory, but only "
                         f"{format_bytes(available_bytes())} is available; use smaller --sizes "
                         "or --batch") from None


def load_npz(path, flag):
    """The arrays of the .npz archive at ``path`` as a dict, in the archive's order.

    Each member's header is read first: the shapes it declares must fit in
    memory before anything is loaded (a corrupted header can claim 1e12 entries).
    """
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except OSError as exc:
        raise UsageError(f"cannot read {flag} {path}: {exc}") from None
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        # NumPy would say it "contains pickled data" and advise loading it unsafely.
        raise UsageError(f"{flag} {path} is not an .npz archive (it does not start as a zip "
                         "file does); save one with numpy.savez(path, W1=..., b1=..., ...)")
    try:
        archive = np.load(path, allow_pickle=False)
    except READ_ERRORS as exc:
        raise UsageError(f"cannot read {flag} {path}: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UsageError(f"{flag} {path} holds a single array; save a dict of arrays with "
                         f"numpy.savez(path, W1=..., b1=..., ...)")
    with archive:
        try:
            declared = declared_bytes(archive)
            needed = sum(declared.values())
            try:
                ensure_fits(needed, f"{flag} {path}")
            except MemoryBudgetError:
                largest = max(declared, key=declared.get)
                raise UsageError(f"{flag} {path} declares arrays of {format_bytes(needed)} "
                                 f"({largest!r} alone {format_bytes(declared[largest])}), but "
                                 f"only {format_bytes(available_bytes())} is available; is the "
                                 "file corrupted?") from None
            return {key: archive[key] for key in archive.files}
        except READ_ERRORS as exc:
            raise UsageError(f"cannot read {flag} {path}: {exc}") from None


def declared_bytes(archive):
    """{member name: bytes its .npy header says it holds} for an open ``NpzFile``."""
    declared = {}
    for name in archive.zip.namelist():
        if not name.endswith(".npy"):
            continue
        with archive.zip.open(name) as member:
            version = np.lib.format.read_magic(member)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                           np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(member)
        declared[name[:-len(".npy")]] = math.prod(shape) * dtype.itemsize
    return declared


def plant(grads, bugs, names):
    """``grads`` with each (tensor, op, value) of ``bugs`` applied: a planted mistake.

    The tensor may be named like the parameter ("W2") or its gradient ("dW2");
    either key of ``grads`` is changed, whichever it has.
    """
    grads = dict(grads)
    for name, op, value in bugs:
        base = name[1:] if name not in names and name.startswith("d") else name
        if base not in names:
            raise UsageError(f"--bug names {name!r}, which the model does not have; its "
                             f"tensors are {', '.join(names)}")
        key = next((k for k in ("d" + base, base) if k in grads), None)
        if key is None:
            raise UsageError(f"--bug {name}: the gradients have neither d{base} nor {base}")
        try:
            gradient = np.asarray(grads[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise UsageError(f"--bug {name}: gradient {key!r} is not numeric") from None
        grads[key] = gradient * value if op == "scale" else gradient + value
    return grads


def _bench(args):
    if args.quick and args.sizes:
        raise UsageError("--quick runs its own tiny networks; leave out --sizes")
    if args.batch is not None and not args.sizes:
        raise UsageError("--batch goes with --sizes, which chooses the network")
    if args.sizes:
        ensure_network_fits(args.sizes, args.batch or 32)
    if args.plot:
        bench.require_matplotlib()
    networks = ([registry.mlp_network(args.sizes, args.batch or 32, args.seed)] if args.sizes
                else registry.default_networks(quick=args.quick, seed=args.seed))
    sample = args.sample or (bench.QUICK_SAMPLE if args.quick else bench.DEFAULT_SAMPLE)
    result = bench.run(networks, sample=sample, threads=args.threads)
    print(json.dumps(result.to_dict()) if args.json else bench.format_bench(result))
    if args.plot:
        try:
            bench.plot(result, args.plot)
        except OSError as exc:
            raise UsageError(f"cannot write --plot {args.plot}: {exc}") from None
        if not args.json:
            print(f"plot saved to {args.plot}")
    return 0


# -- the parser ------------------------------------------------------------------

def _add_model_flags(parser):
    model = parser.add_argument_group("the model (fastcheck.models.MLP)")
    model.add_argument("--sizes", type=layer_sizes,
                       help="layer widths, inputs first (default 784,64,10)")
    model.add_argument("--hidden", type=hidden_activations,
                       help=f"hidden activation, or one per hidden layer: {', '.join(HIDDEN)} "
                            "(default relu)")
    model.add_argument("--output", choices=list(LOSS_OF),
                       help="output activation (default: the one the loss goes with)")
    model.add_argument("--loss", choices=list(OUTPUT_OF),
                       help="loss: bce with sigmoid, ce with softmax, mse with linear "
                            "(default bce, or the one the output goes with)")
    model.add_argument("--l2", type=float, help="L2 strength (default 0)")
    model.add_argument("--batch", type=positive_int,
                       help="examples in the random data (default 32)")
    model.add_argument("--seed", type=seed_value, default=0,
                       help="seeds the parameters (model.init_params), the data "
                            "(fastcheck.app.registry.random_problem) and any sample (default 0)")


def _add_check(sub):
    parser = sub.add_parser(
        "check", help="check your own cost, or a built-in network's backward pass",
        description="Check your own cost, FILE.py:COST, a function cost(params, *args), on "
                    "your parameters, gradients and data (numpy.savez archives: --params, "
                    "--grads, --args). Without FILE.py:COST, check the exact backward pass of "
                    "a built-in MLP, or one with a planted mistake (--bug), on random data by "
                    "default. Exit status 0 when it passes, 1 when it fails, 2 for bad usage.")
    parser.add_argument("cost", nargs="?", metavar="FILE.py:COST",
                        help="your cost: the function COST of the file FILE.py")
    _add_model_flags(parser)
    files = parser.add_argument_group("your own arrays (numpy.savez archives)")
    files.add_argument("--params", metavar="P.npz", help="parameters W1, b1, ... "
                                                         "(default: random from --seed)")
    files.add_argument("--grads", metavar="G.npz", help="gradients dW1, db1, ... or W1, b1, ... "
                                                        "(default: the model's exact backward)")
    files.add_argument("--data", metavar="D.npz", help="X (n0, m) and Y (default: random)")
    files.add_argument("--args", metavar="D.npz",
                       help="your cost's data arguments, passed in the archive's order "
                            "(numpy.savez(path, X, Y) stores them in order)")
    parser.add_argument("--bug", action="append", type=bug_spec, metavar="TENSOR:OP=VALUE",
                        help="plant a mistake in a gradient: W2:scale=2 multiplies dW2 by 2, "
                             "b1:add=0.1 adds 0.1 to db1; repeatable")
    how = parser.add_argument_group("the check (fastcheck.check)")
    how.add_argument("--method", choices=list(METHODS), help="default central")
    how.add_argument("--eps", type=float, help="fixed step (default: scaled to each parameter)")
    how.add_argument("--threshold", type=float, help="pass below this difference (default 1e-7)")
    how.add_argument("--sample", type=sample_size,
                     help="check this many coordinates, or this fraction of them")
    how.add_argument("--directions", type=positive_int, metavar="N",
                     help="check along N random directions instead (fastcheck.check_directions)")
    how.add_argument("--locate", action="store_true",
                     help="fastcheck.locate: find where the gradient is wrong in about 1%% of "
                          "the full check's evaluations")
    how.add_argument("--engine", choices=ENGINES, help="default auto (layered)")
    how.add_argument("--threads", type=positive_int, help="Numba threads (default: all)")
    how.add_argument("--only", type=tensor_names, action="extend", metavar="NAMES",
                     help="check only these tensors (comma-separated, repeatable)")
    how.add_argument("--exclude", type=tensor_names, action="extend", metavar="NAMES",
                     help="leave these tensors out (comma-separated, repeatable)")
    how.add_argument("--jit", action=argparse.BooleanOptionalAction,
                     help="compile your cost (--jit), or never (--no-jit); default: when "
                          "it pays")
    how.add_argument("--workers", type=positive_int, metavar="N",
                     help="run on N local Dask worker processes (pip install fastcheck[dask])")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object instead of the report")
    parser.set_defaults(run=_check)


def _add_bench(sub):
    parser = sub.add_parser(
        "bench", help="time the engines against the naive loop and peers",
        description="Time the naive loop, fastcheck's engines and their peers (SciPy's "
                    "approx_fprime; torch.autograd.gradcheck if installed) on the same "
                    "networks: the seed exercise's, [64,64,32,1]x64 and [784,64,10]x32.")
    parser.add_argument("--sizes", type=layer_sizes,
                        help="bench one network of these layer widths instead (ReLU, sigmoid, "
                             "cross-entropy)")
    parser.add_argument("--batch", type=positive_int,
                        help="examples for --sizes (default 32)")
    parser.add_argument("--quick", action="store_true", help="tiny networks: a smoke test")
    parser.add_argument("--sample", type=positive_int, metavar="N",
                        help=f"time the slow engines on N coordinates and extrapolate "
                             f"(default {bench.DEFAULT_SAMPLE}, {bench.QUICK_SAMPLE} with "
                             "--quick)")
    parser.add_argument("--seed", type=seed_value, default=0, help="seeds the random networks")
    parser.add_argument("--threads", type=positive_int, help="Numba threads (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", metavar="OUT.png",
                        help="also save seconds against parameters (needs matplotlib: "
                             "pip install fastcheck[plot])")
    parser.set_defaults(run=_bench)


def build_parser():
    parser = Parser(prog="fastcheck", description="JIT-accelerated gradient checking.")
    parser.add_argument("--version", action="version", version=f"fastcheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser("demo", help="run the seed exercise's checks, then a large network")
    demo.set_defaults(run=_demo)
    _add_check(sub)
    _add_bench(sub)
    cachecmd.add_parser(sub)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else [str(arg) for arg in argv]
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except FastcheckError as exc:
        return fail(owncost.shell_words(str(exc)), "--json" in argv)
    except UsageError as exc:
        return fail(str(exc), "--json" in argv)
    except MemoryError as exc:
        # What the estimates before allocating did not foresee.
        return fail(f"out of memory ({type(exc).__name__}: {exc}); use smaller --sizes, "
                    "--batch or --sample", "--json" in argv)
    except KeyboardInterrupt:
        print("fastcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) left: point stdout at devnull so that the
        # interpreter's final flush does not raise again, as the Python docs advise.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def fail(message, as_json):
    """Report ``message`` as a usage error: one line on stderr (scripts read its first
    line), and with ``--json`` a JSON object on stdout; exit status 2."""
    message = " ".join(message.split())
    if as_json:
        print(json.dumps({"error": message}))
    print(f"fastcheck: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""``fastcheck bench``: the engines and their peers on the same networks, in one process.

Every engine estimates the gradient of the same built-in MLP at the same
parameters, and is compared with the naive loop (the seed's own
``gradient_check_n``, ``fastcheck.naive_check``):

- ``naive``: ``fastcheck.naive_check``, the exercise's loop (copy theta,
  perturb one entry, run the model's forward pass) per coordinate;
- ``python``, ``generic``, ``layered``: ``fastcheck.check`` with that engine;
- ``scipy``: ``scipy.optimize.approx_fprime`` over the flat vector (forward
  differences, one evaluation per coordinate);
- ``torch``: ``torch.autograd.gradcheck`` on the same network written in
  torch, when torch is importable.

The slow ones (``SAMPLED``) are timed on a random sample of coordinates and
extrapolated to all of them; the compiled engines check every coordinate.
Every engine is called once on a few coordinates before it is timed, so that
Numba's compilation (or loading its on-disk cache) is reported apart.

Every engine runs with BLAS held to one thread. The compiled engines do so
anyway; the others run one small forward pass at a time, which BLAS threads
only slow down: on a busy 2-core machine, 10x for [784, 64, 10] x 32. A
slower baseline would inflate the speedups.
"""

import importlib
import os
import platform
import time
from dataclasses import asdict, dataclass, replace

import numba
import numpy as np

from fastcheck.runtime.blas import single_threaded_blas
from fastcheck.check import check
from fastcheck.errors import OptionError
from fastcheck.naive import naive_check
from fastcheck.planning.sampling import coordinates
from fastcheck.verdict import relative_difference

#: Engines in table order; peers come last.
ENGINES = ("naive", "python", "generic", "layered", "scipy", "torch")
#: Engines timed on a sample of coordinates and extrapolated: their cost per
#: coordinate is a full forward pass from Python, so a full run on a large
#: network would take minutes.
SAMPLED = frozenset({"naive", "python", "scipy", "torch"})
#: Coordinates the sampled engines are timed on, by default and with --quick.
DEFAULT_SAMPLE = 500
QUICK_SAMPLE = 60

NOTES = {
    "naive": "naive: fastcheck.naive_check, the exercise's loop (copy theta, perturb one "
             "entry, run the forward pass, twice per coordinate), eps 1e-7",
    "scipy": "scipy: scipy.optimize.approx_fprime over the flat vector; forward differences, "
             "one evaluation per coordinate (central differences take two)",
    "torch": "torch: torch.autograd.gradcheck on the same network in torch; it checks torch's "
             "own autograd, so it has no difference here",
}
TORCH_MISSING = ("torch: not installed, skipped (pip install torch to compare with "
                 "torch.autograd.gradcheck)")


# -- one engine on one network ----------------------------------------------
# Each runner estimates the gradient at the flat indices ``idx`` (None: all of
# them) and returns (coordinates estimated, difference from the exact grads or
# None when the engine does not expose its estimates).

def _naive(net, idx, threads):
    res = naive_check(net.model, net.params, net.grads, net.X, net.Y, indices=idx)
    return res.checked, res.difference


def _facade(engine):
    def run(net, idx, threads):
        # check draws sample=idx.size coordinates like ``coordinates`` at seed 0,
        # which is idx itself whenever idx holds at least one per tensor.
        res = check(net.model, net.params, net.grads, net.X, net.Y, engine=engine,
                    sample=None if idx is None else idx.size, threads=threads,
                    progress=False)
        return res.checked, res.difference
    return run


def _flat_cost(net, idx):
    """(theta (P,), idx, cost(sub)): the model's cost of the entries ``idx`` alone."""
    X, Y = net.model.data(net.X, net.Y)
    theta = net.model.flatten(net.params)
    idx = np.arange(theta.size) if idx is None else idx

    def cost(sub):
        full = theta.copy()
        full[idx] = sub
        return net.model.cost_flat(full, X, Y)
    return theta, idx, cost


def _scipy(net, idx, threads):
    from scipy.optimize import approx_fprime
    theta, idx, cost = _flat_cost(net, idx)
    approx = approx_fprime(theta[idx], cost)
    grad = net.model.layout.gather_grads(net.grads)
    return idx.size, relative_difference(grad[idx], approx)


def _torch(net, idx, threads):
    import torch
    model = net.model
    X, Y = model.data(net.X, net.Y)
    theta = torch.from_numpy(model.flatten(net.params))
    idx = torch.from_numpy(np.arange(theta.numel()) if idx is None else idx)
    X, Y = torch.from_numpy(X), torch.from_numpy(Y)

    def cost(sub):
        return torch_cost(model, theta.index_put((idx,), sub), X, Y)
    sub = theta[idx].clone().requires_grad_(True)
    torch.autograd.gradcheck(cost, (sub,), eps=1e-6, atol=1e-5, raise_exception=False)
    return int(idx.numel()), None


def torch_cost(model, theta, X, Y):
    """The built-in model's cost in torch: theta (P,), X (n0, m), Y (nL, m) float64 tensors."""
    import torch
    F = torch.nn.functional
    activations = {"relu": torch.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
                   "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}
    sizes = [int(n) for n in model.sizes]
    m, start, penalty, A = X.shape[1], 0, 0.0, X
    for l in range(1, len(sizes)):
        W = theta[start:start + sizes[l] * sizes[l - 1]].reshape(sizes[l], sizes[l - 1])
        start += W.numel()
        b = theta[start:start + sizes[l]].reshape(sizes[l], 1)
        start += sizes[l]
        Z = W @ A + b
        penalty = penalty + (W * W).sum()
        if l < len(sizes) - 1:
            A = activations[model.hidden[l - 1]](Z)
    # The losses from the logits Z, summed over outputs and averaged over examples.
    if model.loss == "bce":
        loss = F.binary_cross_entropy_with_logits(Z, Y, reduction="sum")
    elif model.loss == "ce":
        loss = -(Y * F.log_softmax(Z, dim=0)).sum()
    else:
        loss = 0.5 * ((Z - Y) ** 2).sum()
    return loss / m + model.l2 / (2.0 * m) * penalty


RUNNERS = {"naive": _naive, "python": _facade("python"), "generic": _facade("generic"),
           "layered": _facade("layered"), "scipy": _scipy, "torch": _torch}


# -- timing ---------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One engine on one network.

    ``measured`` wall seconds for ``coordinates`` estimates; ``seconds`` is
    that extrapolated to all ``parameters`` when the engine ran on a sample.
    ``speedup`` is the naive loop's ``seconds`` over this one's.
    """

    network: str
    parameters: int
    engine: str
    coordinates: int
    measured: float
    difference: object = None
    speedup: object = None

    @property
    def extrapolated(self):
        return self.coordinates < self.parameters

    @property
    def seconds(self):
        return self.measured * self.parameters / self.coordinates

    @property
    def rate(self):
        """Coordinates per second."""
        return self.coordinates / self.measured

    def to_dict(self):
        return dict(asdict(self), seconds=self.seconds, extrapolated=self.extrapolated,
                    coordinates_per_second=self.rate)


def time_engine(net, engine, sample=DEFAULT_SAMPLE, threads=None):
    """Time ``engine`` on ``net``: a ``Row`` (speedup unset).

    Engines in ``SAMPLED`` run on ``sample`` coordinates (stratified by tensor,
    seed 0) when the network has more; the others on all of them.
    """
    idx = (coordinates(net.model.layout, sample, seed=0)
           if engine in SAMPLED and net.size > sample else None)
    with single_threaded_blas():
        start = time.perf_counter()
        count, difference = RUNNERS[engine](net, idx, threads)
        seconds = time.perf_counter() - start
    return Row(net.name, net.size, engine, count, seconds, difference)


def first_call(net, engine, threads=None):
    """Seconds of ``engine``'s first call, on a handful of ``net``'s coordinates:
    Numba's compilation or its load from the on-disk cache."""
    with single_threaded_blas():
        start = time.perf_counter()
        RUNNERS[engine](net, coordinates(net.model.layout, 1, seed=0), threads)
        return time.perf_counter() - start


@dataclass(frozen=True)
class Bench:
    """Everything ``fastcheck bench`` measured."""

    machine: str
    sample: int
    first_calls: dict
    rows: list
    notes: list

    def to_dict(self):
        return {"machine": self.machine, "sample": self.sample,
                "first_call_seconds": self.first_calls,
                "rows": [row.to_dict() for row in self.rows], "notes": self.notes}


def machine(threads=None):
    """One line naming the machine and the thread count the engines run with."""
    used = threads or numba.get_num_threads()
    return (f"{os.cpu_count()} cores, {used} Numba threads ({numba.threading_layer()}), "
            f"Python {platform.python_version()}, NumPy {np.__version__}, "
            f"Numba {numba.__version__}")


def _importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def run(networks, sample=DEFAULT_SAMPLE, threads=None):
    """Time every available engine on every network; a ``Bench``."""
    engines = [e for e in ENGINES if e != "torch" or _importable("torch")]
    notes = [NOTES[e] for e in engines if e in NOTES]
    if "torch" not in engines:
        notes.append(TORCH_MISSING)
    first_calls = {engine: first_call(networks[0], engine, threads) for engine in engines}
    rows = []
    for net in networks:
        timed = [time_engine(net, engine, sample, threads) for engine in engines]
        naive = timed[0].seconds
        rows += [replace(row, speedup=naive / row.seconds) for row in timed]
    return Bench(machine(threads), sample, first_calls, rows, notes)


# -- output -------------------------------------------------------------------

def _figure(x):
    """Three significant digits, grouped when large: 1,234, 12.3, 0.00646, 7.55e-04."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}" if x >= 1e-3 else f"{x:.2e}"


def format_bench(bench):
    """The table, with the first calls above it and the footnotes below."""
    calls = ", ".join(f"{engine} {seconds:.2f} s" for engine, seconds in bench.first_calls.items())
    header = ("network", "parameters", "engine", "seconds", "coords/s", "speedup",
              "difference")
    table = [header]
    for row in bench.rows:
        table.append((row.network, f"{row.parameters:,}", row.engine,
                      _figure(row.seconds) + ("*" if row.extrapolated else " "),
                      f"{row.rate:,.0f}", _figure(row.speedup) + "x",
                      "-" if row.difference is None else f"{row.difference:.2e}"))
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    # Text columns to the left, numbers to the right; seconds keep a place for "*".
    lines = [f"fastcheck bench: {bench.machine}",
             f"first calls (compiling, or loading Numba's cache; not in the table): {calls}", ""]
    for r in table:
        cells = [cell.ljust(w) if c in (0, 2) else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(r, widths))]
        lines.append("  " + "  ".join(cells).rstrip())
    lines.append("")
    if any(row.extrapolated for row in bench.rows):
        lines.append(f"* timed on {bench.sample} coordinates (a random sample, stratified by "
                     "tensor) and extrapolated to all of them")
    lines.append("speedup: over the naive loop on the same network; difference: from the "
                 "model's exact backward, over the coordinates estimated")
    return "\n".join(lines + bench.notes)


def require_matplotlib():
    """Raise ``OptionError`` with the install hint unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise OptionError(f"plotting needs matplotlib ({exc}): pip install "
                          "fastcheck[plot]") from None


def plot(bench, path):
    """Save seconds against parameter count, log-log, one line per engine, to ``path``.

    Hollow markers are extrapolated from a sample.
    """
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for engine in dict.fromkeys(row.engine for row in bench.rows):
        rows = [row for row in bench.rows if row.engine == engine]
        line, = ax.plot([r.parameters for r in rows], [r.seconds for r in rows], marker="o",
                        label=engine)
        ax.scatter([r.parameters for r in rows if r.extrapolated],
                   [r.seconds for r in rows if r.extrapolated], s=60, zorder=3,
                   facecolors="white", edgecolors=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("seconds for a full check")
    ax.set_title("fastcheck bench (hollow: extrapolated from a sample)", fontsize=10)
    ax.legend()
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)

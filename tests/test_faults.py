"""Reliability under faults (issue 17): errors of the process raised inside a cost,
precision notes, sampling with many tensors, many small tensors, and the command
line on resource errors.

Each test here failed on the code before its fix; the commit that added it says how.
"""

import io
import json
import re
import struct
import zipfile

import numpy as np
import pytest
from clirun import run_cli

import fastcheck as fc
from fastcheck import verdict as V
from fastcheck.verdict import norms as N
from fastcheck.verdict.coordinates import tensor_rows
from fastcheck.errors import CostError
from fastcheck.models import MLP
from fastcheck.planning.noise import EVALUATIONS as NOISE_EVALUATIONS
from fastcheck.report.result import REPORT_ROWS, json_ready
from fastcheck.planning.sampling import per_tensor_counts

# J = sum(sin(W) * X) + 0.5 * sum(b**2): the running example of tests/test_bad_input.py.
_RNG = np.random.default_rng(17)
W0 = _RNG.uniform(-1.0, 1.0, (3, 4))
B0 = _RNG.standard_normal((3, 1))
X0 = _RNG.standard_normal((3, 4))


def params():
    return {"W": W0.copy(), "b": B0.copy()}


def grads():
    return {"dW": np.cos(W0) * X0, "db": B0.copy()}


def py_cost(p, X):
    return float(np.sum(np.sin(p["W"]) * X) + 0.5 * np.sum(p["b"] ** 2))


# -- MemoryError, RecursionError, KeyboardInterrupt inside a cost (item 11) ---------------
# They say something about the process, not the cost: they must reach the caller as
# themselves (``except MemoryError`` keeps working), never as a CostError (a ValueError),
# with a note saying where the cost raised them.

def recurse(n):
    return recurse(n + 1) + 1


def raising(kind):
    if kind is RecursionError:
        recurse(0)
    raise kind("from the cost")


def raising_after(calls, kind):
    """The running example's cost, raising ``kind`` from its ``calls``-th call on."""
    count = [0]

    def cost(p, X):
        count[0] += 1
        if count[0] >= calls:
            raising(kind)
        return py_cost(p, X)
    return cost


FATAL = [MemoryError, RecursionError, KeyboardInterrupt]


@pytest.mark.parametrize("kind", FATAL)
def test_a_process_error_at_theta_propagates_as_itself_with_a_note(kind):
    with pytest.raises(kind) as info:
        fc.check(raising_after(1, kind), params(), grads(), X0, engine="python")
    assert not isinstance(info.value, CostError)
    assert "raised inside the cost at the given parameters" in "".join(info.value.__notes__)


@pytest.mark.parametrize("kind", FATAL)
def test_a_process_error_on_the_python_engine_names_the_coordinate(kind):
    # Two evaluations at theta, the noise line, then two per coordinate: the 8th call
    # after the noise line perturbs W[0, 2] by -h.
    with pytest.raises(kind) as info:
        fc.check(raising_after(8 + NOISE_EVALUATIONS, kind), params(), grads(), X0,
                 engine="python")
    assert "raised inside the cost with W[0, 2] perturbed by -h" in "".join(
        info.value.__notes__)


@pytest.mark.parametrize("kind", FATAL)
def test_a_process_error_in_the_closer_look_names_the_coordinate(kind):
    g = grads()
    g["db"][1, 0] += 1.0                         # wrong: the closer look probes b[1, 0]
    # theta twice, the noise line, 15 coordinates, then probes
    calls = 2 + NOISE_EVALUATIONS + 2 * 15 + 1
    with pytest.raises(kind) as info:
        fc.check(raising_after(calls, kind), params(), g, X0, engine="python")
    assert "with b[1, 0] perturbed by +h" in "".join(info.value.__notes__)


@pytest.mark.parametrize("kind", FATAL)
def test_a_process_error_in_check_directions_propagates(kind):
    with pytest.raises(kind) as info:
        # J at theta, its determinism repeat, the noise line, then direction 0 (+h), (-h).
        fc.check_directions(raising_after(4 + NOISE_EVALUATIONS, kind), params(), grads(),
                            X0, n=2)
    assert "along direction 0 (-h)" in "".join(info.value.__notes__)


@pytest.mark.parametrize("kind", FATAL)
def test_a_process_error_in_a_jit_cost_called_from_python_propagates(kind):
    cost = fc.jit_cost(lambda theta, X, Y: raising(kind))
    with pytest.raises(kind) as info:
        fc.check(cost, params(), grads(), X0, X0)
    assert "at the given parameters" in "".join(info.value.__notes__)


@pytest.mark.parametrize("kind", FATAL)
def test_a_process_error_in_a_models_evaluation_propagates(kind):
    model = MLP([3, 4, 2], hidden="tanh", output="sigmoid", loss="bce")
    p = model.init_params(seed=0)
    Y = np.array([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    g = model.backward(p, X0, Y)
    model.cost_flat = lambda theta, X, Y: raising(kind)
    with pytest.raises(kind) as info:
        fc.check(model, p, g, X0, Y)
    assert "at the given parameters" in "".join(info.value.__notes__)


# -- longdouble parameters (item 4) ------------------------------------------------------

@pytest.mark.skipif(np.finfo(np.longdouble).eps == np.finfo(np.float64).eps,
                    reason="np.longdouble is float64 on this platform")
def test_longdouble_parameters_are_named_in_a_note_saying_they_were_rounded():
    p = params()
    p["W"] = p["W"].astype(np.longdouble)
    res = fc.check(py_cost, p, grads(), X0)
    assert res.passed
    high = [note for note in res.notes if "higher precision" in note]
    assert len(high) == 1 and f"W ({np.dtype(np.longdouble)})" in high[0], res.notes
    assert "b (" not in high[0]
    assert f"note: checked in float64: W ({np.dtype(np.longdouble)})" in str(res)
    again = fc.check_directions(py_cost, p, grads(), X0, n=2)
    assert any("higher precision" in note for note in again.notes)


def test_a_note_names_at_most_a_few_tensors_and_counts_the_rest():
    p = {f"t{k}": np.float32(0.5 + k) for k in range(20)}
    g = {f"dt{k}": np.float32(0.5 + k) for k in range(20)}
    res = fc.check(lambda q: sum(float(v) ** 2 / 2 for v in q.values()), p, g)
    low = [note for note in res.notes if "lower precision" in note]
    assert len(low) == 1 and "t7 (float32) and 12 more" in low[0] and "t8 " not in low[0]


# -- sample=N with more tensors than N (item 12) ----------------------------------------

def scalar_problem(T, wrong=()):
    """T scalar tensors t0..t{T-1}, J = sum(t_k^2 / 2), gradients t_k (plus one at ``wrong``)."""
    values = np.random.default_rng(3).uniform(0.5, 1.5, T)
    p = {f"t{k}": values[k] for k in range(T)}
    g = {f"dt{k}": values[k] + (1.0 if k in wrong else 0.0) for k in range(T)}
    return p, g


def half_sum_of_squares(p):
    return 0.5 * float(np.sum(np.fromiter(p.values(), float, len(p)) ** 2))


def test_per_tensor_counts_add_up_to_the_sample_with_fewer_coordinates_than_tensors():
    sizes = np.ones(2000, dtype=np.int64)
    for count in (1, 7, 100, 1999):
        counts = per_tensor_counts(sizes, count, np.random.default_rng(0))
        assert counts.sum() == count and set(counts.tolist()) <= {0, 1}
    # Spread: each run of 20 consecutive tensors gives exactly one of the 100.
    counts = per_tensor_counts(sizes, 100, np.random.default_rng(5))
    assert (counts.reshape(100, 20).sum(axis=1) == 1).all()
    # Large tensors and small ones alike can be chosen.
    mixed = np.array([1000, 1, 1, 1, 500, 1, 1, 1])
    assert per_tensor_counts(mixed, 3, np.random.default_rng(1)).sum() == 3


def test_sample_n_checks_exactly_n_coordinates_over_more_tensors_and_notes_the_rest():
    p, g = scalar_problem(2000)
    res = fc.check(half_sum_of_squares, p, g, sample=100, seed=4, engine="python")
    assert res.checked == 100 and res.passed
    assert sum(row.checked for row in res.per_tensor) == 100
    covered = np.array([row.checked for row in res.per_tensor])
    assert (covered.reshape(100, 20).sum(axis=1) == 1).all()       # spread over the layout
    again = fc.check(half_sum_of_squares, p, g, sample=100, seed=4, engine="python")
    other = fc.check(half_sum_of_squares, p, g, sample=100, seed=5, engine="python")
    np.testing.assert_array_equal(res.indices, again.indices)
    assert not np.array_equal(res.indices, other.indices)
    note = [n for n in res.notes if "tensors were not checked" in n]
    assert len(note) == 1 and note[0].startswith("1900 of 2000 tensors"), res.notes
    assert "note: 1900 of 2000 tensors were not checked" in str(res)
    # A fraction asks for its count the same way.
    assert fc.check(half_sum_of_squares, p, g, sample=0.01, engine="python").checked == 20


def test_a_full_check_or_a_large_sample_has_no_such_note():
    p, g = scalar_problem(50)
    for sample in (None, 50):
        res = fc.check(half_sum_of_squares, p, g, sample=sample, engine="python")
        assert not any("not checked" in n for n in res.notes)


# -- many small tensors (item 13) --------------------------------------------------------

def test_segment_norms_and_differences_match_norm_bit_for_bit():
    rng = np.random.default_rng(13)
    lengths = [0, 1, 2, 3, 0, N.SHORT_SEGMENT, N.SHORT_SEGMENT + 1, 7, 500, 1, 0]
    scales = [1.0, 1e-300, 1e300, 3.0, 1.0, 1e-5, 1e5, 0.0, 2.0, 1e-310, 1.0]
    grad = np.concatenate([s * rng.standard_normal(n) for n, s in zip(lengths, scales)])
    approx = grad + 1e-3 * np.concatenate([s * rng.standard_normal(n)
                                           for n, s in zip(lengths, scales)])
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    norms = N.segment_norms(grad, bounds)
    diffs = N.segment_differences(grad, approx, bounds)
    for k in range(len(lengths)):
        part = slice(bounds[k], bounds[k + 1])
        assert norms[k] == N.norm(grad[part]), k
        assert diffs[k] == V.relative_difference(grad[part], approx[part]), k


def reference_rows(layout, grad_flat, approx_flat, indices, judgement, allowed, flagged):
    """The per-tensor loop tensor_rows replaced: one reduction per tensor."""
    grad, approx = grad_flat[indices], approx_flat[indices]
    error = grad - approx
    bounds = np.searchsorted(indices, layout.offsets)
    rows = []
    for k, (name, shape) in enumerate(zip(layout.names, layout.shapes)):
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi:
            rows.append(fc.TensorRow(name, shape, 0, float("nan"), float("nan"), (),
                                     detectable=float("nan"), status="not checked"))
            continue
        worst = lo + int(np.argmax(np.abs(error[lo:hi])))
        local = int(indices[worst]) - layout.offsets[k]
        codes, kept = judgement[lo:hi], ~flagged[lo:hi]
        kinks = int(flagged[lo:hi].sum())
        clean = (V.relative_difference(grad[lo:hi][kept], approx[lo:hi][kept])
                 if kinks else None)
        status = ("WRONG" if (codes == V.MISTAKE).any() else
                  "unsure" if (codes == V.UNRESOLVED).any() else
                  "kinks" if (codes == V.KINK).any() else "ok")
        rows.append(fc.TensorRow(
            name, shape, int(hi - lo), V.relative_difference(grad[lo:hi], approx[lo:hi]),
            float(abs(error[worst])), tuple(int(j) for j in np.unravel_index(local, shape)),
            kinks, clean, float(allowed[lo:hi].max()), status))
    return rows


def test_tensor_rows_equal_the_per_tensor_reduction_they_replaced():
    rng = np.random.default_rng(31)
    shapes = [(), (3, 4), (1,), (50,), (2, 1, 3), (), (40, 2), (5,)] * 3
    params = {f"p{k}": rng.standard_normal(shape) for k, shape in enumerate(shapes)}
    layout = fc.Layout.from_params(params)
    P = layout.size
    grad_flat = rng.standard_normal(P)
    indices = np.sort(rng.choice(P, size=P // 2, replace=False))
    indices = indices[(indices < layout.offsets[5]) | (indices >= layout.offsets[6])]
    approx_flat = np.full(P, np.nan)
    approx_flat[indices] = grad_flat[indices] + 1e-6 * rng.standard_normal(indices.size)
    approx_flat[indices[::7]] = grad_flat[indices[::7]]          # ties: the first max wins
    n = indices.size
    judgement = rng.choice([V.CONSISTENT, V.SMOOTH, V.KINK, V.MISTAKE, V.UNRESOLVED], size=n,
                           p=[0.8, 0.1, 0.04, 0.03, 0.03]).astype(np.int8)
    allowed = rng.uniform(1e-9, 1e-7, n)
    flagged = rng.random(n) < 0.1
    got = tensor_rows(layout, grad_flat, approx_flat, indices, judgement, allowed, flagged)
    want = reference_rows(layout, grad_flat, approx_flat, indices, judgement, allowed, flagged)
    assert len(got) == len(want) == len(shapes)
    for row, expected in zip(got, want):                          # bit for bit
        assert json_ready(row.to_dict()) == json_ready(expected.to_dict()), row.name
    assert got[5].checked == 0 and got[-1] == want[-1] and got[6:8] == want[6:8]


@fc.jit_cost
def two_entries(theta, X, Y):
    """J = theta_0^2 / 2 + 3 theta_{P-1}: O(1) a call, so the bookkeeping is what is timed."""
    return 0.5 * theta[0] * theta[0] + 3.0 * theta[theta.shape[0] - 1]


def test_a_hundred_thousand_scalar_tensors_give_a_short_report_of_the_worst():
    T = 100_000
    values = np.random.default_rng(7).standard_normal(T)
    p = {f"t{k}": values[k] for k in range(T)}
    g = {f"dt{k}": 0.0 for k in range(T)}
    g["dt0"], g[f"dt{T - 1}"] = values[0], 3.0
    g["dt70000"] = 1.0                                            # wrong
    g["dt123"] = 2.0                                              # wrong, worse
    X = np.zeros((1, 1))
    res = fc.check(two_entries, p, g, X, X, progress=False)
    assert res.verdict == "mistake" and res.suspects == ["t123", "t70000"]
    assert len(res.per_tensor) == T and res.checked == T
    assert res.per_tensor[T - 1].name == f"t{T - 1}" and res.per_tensor[42].checked == 1
    assert [row.name for row in res.per_tensor][:3] == ["t0", "t1", "t2"]
    report = str(res)
    lines = report.splitlines()
    assert len(lines) < REPORT_ROWS + 15 and len(report) < 10_000
    table = [line.split()[0] for line in lines if line.startswith("  t")][2:]  # no headers
    assert len(table) == REPORT_ROWS
    assert table[:2] == ["t70000", "t123"] or table[:2] == ["t123", "t70000"]
    assert table[2] in ("t0", f"t{T - 1}")                        # then by difference
    assert "WRONG" in lines[lines.index(next(l for l in lines if l.startswith("  t123")))]
    assert lines[-1] == (f"  ... and {T - REPORT_ROWS} more tensors, {T - REPORT_ROWS} ok: "
                         "every row is in res.per_tensor")
    assert f"the {REPORT_ROWS} worst of {T} tensors" in report
    assert len(res.to_dict()["per_tensor"]) == T


def test_a_report_of_a_sample_counts_the_tensors_not_checked():
    p, g = scalar_problem(300, wrong={17})
    res = fc.check(half_sum_of_squares, p, g, sample=120, seed=1, engine="python")
    last = str(res).splitlines()[-1]
    wrong = int("t17" in res.suspects)
    assert last.startswith(f"  ... and {300 - REPORT_ROWS} more tensors, ")
    assert f"{120 - REPORT_ROWS - wrong} ok, 180 not checked" in last or wrong == 0, last
    assert "180 not checked" in last


# -- the command line on resource errors (item 7) ----------------------------------------
# Each of these printed a traceback and exited 1 (with --json, stdout was empty): a
# corrupted archive member (zlib.error), a .npy header claiming 1e12 entries, and
# networks or data whose arrays cannot fit (MemoryError, or OverflowError for widths
# beyond int64). Each must be refused, in one line and with exit status 2, before
# anything large is allocated. The address space is capped for these tests, so that a
# regression fails with a MemoryError rather than swapping the machine.

SMALL = ["--sizes", "4,3,1", "--batch", "5"]


@pytest.fixture
def little_memory():
    """RLIMIT_AS at what this process has mapped plus 2 GiB, for the test only."""
    resource = pytest.importorskip("resource")
    psutil = pytest.importorskip("psutil")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = psutil.Process().memory_info().vms + 2 * 2**30
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def corrupted_npz(path):
    """An archive whose compressed member W1 is damaged halfway: zlib.error on reading."""
    rng = np.random.default_rng(0)
    np.savez_compressed(path, W1=np.round(rng.standard_normal((40, 50)), 2), b1=np.zeros((3, 1)))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("W1.npy")
    data = bytearray(path.read_bytes())
    name, extra = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    middle = info.header_offset + 30 + name + extra + info.compress_size // 3
    for k in range(middle, middle + 16):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def huge_header_npz(path):
    """An archive whose member W1 claims a (10**6, 10**6) float64 array in 64 bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        member, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    member.write(bytes(64))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("W1.npy", member.getvalue())
    return path


RESOURCE_CASES = [
    ("npz-corrupted-member", ["check", *SMALL, "--params", "{corrupt}"],
     r"cannot read --params .*corrupt\.npz: Error -3 while decompressing"),
    ("npz-header-1e12", ["check", *SMALL, "--grads", "{huge}"],
     r"--grads .*huge\.npz declares arrays of 7\.45e\+03 GB \('W1' alone"),
    ("sizes-100000-100000-10", ["check", "--sizes", "100000,100000,10"],
     r"--sizes 100000,100000,10 with --batch 32 needs about \d.* of memory"),
    ("sizes-40000-40000-10", ["check", "--sizes", "40000,40000,10"],
     r"--sizes 40000,40000,10 .*use smaller --sizes or --batch"),
    ("batch-1e8", ["check", "--batch", "100000000"],
     r"--sizes 784,64,10 with --batch 100000000 needs"),
    ("sizes-beyond-int64", ["check", "--sizes", "99999999999999999999,2"],
     r"--sizes 99999999999999999999,2 with --batch 32 needs"),
    ("bench-sizes-40000", ["bench", "--sizes", "40000,40000,10"], r"--sizes 40000,40000,10"),
]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("argv, pattern", [pytest.param(*row[1:], id=row[0])
                                           for row in RESOURCE_CASES])
def test_resource_errors_on_the_command_line_are_one_line_and_exit_2(
        argv, pattern, as_json, tmp_path, little_memory):
    files = {"corrupt": corrupted_npz(tmp_path / "corrupt.npz"),
             "huge": huge_header_npz(tmp_path / "huge.npz")}
    done = run_cli(*[arg.format(**files) for arg in argv], *(["--json"] if as_json else []))
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastcheck: error: "), done.stderr
    assert re.search(pattern, lines[0]), lines[0]
    if as_json:
        assert json.loads(done.stdout) == {"error": lines[0][len("fastcheck: error: "):]}
    else:
        assert done.stdout == ""


def test_usage_errors_are_json_too_under_json():
    done = run_cli("check", "--sizes", "4", "--json")
    assert done.returncode == 2
    assert "--sizes" in json.loads(done.stdout)["error"]


def big_step_cost(p, X):
    """Compiles; raises MemoryError once W[0, 0] is moved far from theta."""
    if p["W"][0, 0] > 100.0:
        raise MemoryError("W[0, 0] is too large")
    return np.sum(np.tanh(p["W"] @ X))


def test_a_process_error_in_the_compiled_cost_propagates_as_itself():
    """The compiled twin the closer look calls lets MemoryError through, as Python does."""
    from fastcheck.costs import adapt

    adapter = adapt(big_step_cost, {"W": W0.copy()}, (np.ascontiguousarray(X0.T),))
    adapter.compile(False)
    theta = adapter.theta.copy()
    theta[0] = 1000.0
    with pytest.raises(MemoryError) as info:
        adapter.fast_evaluate(theta, "with W[0, 0] perturbed by +h")
    assert "raised inside the cost with W[0, 0] perturbed by +h" in "".join(
        info.value.__notes__)

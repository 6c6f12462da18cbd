"""fastcheck in a real Jupyter kernel: a notebook run by nbclient and ipykernel.

The cells are a user's: import fastcheck, define a NumPy cost with a helper
and its backward pass with a planted mistake, look at the result, run a check
of a few seconds with the default options, and try to compile a cost Numba
cannot. The test asserts on what the notebook shows: no warning at import,
the HTML report with the wrong tensor marked, a progress bar, and a
CompileError of one readable message without Numba's traceback chained to it.
"""

import textwrap

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

CELLS = [
    """
    import warnings
    warnings.simplefilter("always")
    import fastcheck as fc
    import numpy as np
    """,
    """
    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def cost(params, X, Y):
        A = sigmoid(params["W"] @ X + params["b"])
        return float(-np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)))

    def backward(params, X, Y):
        A = sigmoid(params["W"] @ X + params["b"])
        dZ = (A - Y) / X.shape[1]
        return {"dW": dZ @ X.T, "db": 2 * dZ.sum(axis=1, keepdims=True)}   # the slip: 2 *

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 20)), (rng.random((1, 20)) > 0.5) * 1.0
    params = {"W": rng.standard_normal((1, 3)), "b": np.zeros((1, 1))}
    res = fc.check(cost, params, backward(params, X, Y), X, Y, jit=False)
    res
    """,
    # A cost of about a millisecond over 1,000 coordinates: seconds in Python, defaults.
    """
    def slow_cost(params):
        total = 0.0
        for _ in range(100):
            total += float(np.sum(np.sin(params["w"]) ** 2))
        return total / 100

    w = rng.standard_normal(1000)
    slow = fc.check(slow_cost, {"w": w}, {"w": np.sin(2 * w)}, jit=False)
    print(slow.passed, round(slow.seconds, 1) > 1.0)
    """,
    """
    def einsum_cost(params, X):
        return float(np.sum(np.einsum("ij,jk", params["W"], X) ** 2))

    fc.check(einsum_cost, params, {"W": params["W"], "b": params["b"]}, X, jit=True)
    """,
]


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """The executed notebook's cells (the last one raises, as a user's would)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(source).strip()) for source in CELLS]
    path = tmp_path_factory.mktemp("notebook")
    client = NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path)}})
    client.execute()
    return nb.cells


def streams(cell, name):
    return "".join(out.get("text", "") for out in cell.outputs
                   if out.output_type == "stream" and out.name == name)


def test_import_prints_nothing(notebook):
    assert notebook[0].outputs == []


def test_result_shows_as_the_html_report(notebook):
    (shown,) = [out for out in notebook[1].outputs if out.output_type == "execute_result"]
    html = shown["data"]["text/html"]
    assert "fastcheck FAILED" in html
    assert '<tr class="fastcheck-wrong"' in html
    wrong_row = html.split('<tr class="fastcheck-wrong"')[1].split("</tr>")[0]
    assert ">b<" in wrong_row and ">WRONG<" in wrong_row
    assert html.count('class="fastcheck-wrong"') == 1      # W is right
    plain = shown["data"]["text/plain"]
    assert plain.startswith("<CheckResult FAILED mistake") and "wrong: b" in plain


def test_a_check_of_seconds_shows_progress_by_default(notebook):
    cell = notebook[2]
    assert streams(cell, "stdout").split() == ["True", "True"]
    bar = streams(cell, "stderr")
    assert "coord" in bar and "%|" in bar, cell.outputs


def test_compile_error_is_one_message_without_numbas_traceback(notebook):
    (error,) = [out for out in notebook[3].outputs if out.output_type == "error"]
    assert error.ename == "CompileError"
    assert "Numba cannot compile np.einsum" in error.evalue and "\n" not in error.evalue
    trace = "\n".join(error.traceback)
    assert "direct cause" not in trace and "During handling" not in trace
    assert "numba/core" not in trace

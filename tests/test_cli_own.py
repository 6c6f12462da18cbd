"""``fastcheck check FILE.py:COST``: a user's own cost from the shell, and ``--version``.

The cost is a plain NumPy file a user would write (a helper, a logistic
regression); its gradients come from the closed-form derivative, and the
planted mistake's difference is computed here from the exercise's formula, so
every assertion compares the command line with something it did not compute.
"""

import importlib.metadata
import json
import textwrap

import numpy as np
import pytest

from clirun import run_cli

COST = textwrap.dedent('''
    import numpy as np

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def cost(params, X, Y):
        A = sigmoid(params["W"] @ X + params["b"])
        return -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A))

    LABEL = "not a function"
''')


@pytest.fixture
def files(tmp_path, request):
    """The cost file (named after the test, so that each test imports its own) and
    its archives: params, right and wrong (db doubled) gradients, data (X, Y)."""
    name = "cost_" + request.node.name.split("[")[0]
    (tmp_path / f"{name}.py").write_text(COST)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, 20)), (rng.random((1, 20)) > 0.5) * 1.0
    params = {"W": rng.standard_normal((1, 3)), "b": np.array([[0.1]])}
    A = 1 / (1 + np.exp(-(params["W"] @ X + params["b"])))
    dZ = (A - Y) / X.shape[1]
    right = {"dW": dZ @ X.T, "db": dZ.sum(axis=1, keepdims=True)}
    wrong = {"dW": right["dW"], "db": 2 * right["db"]}
    paths = {key: tmp_path / f"{key}.npz" for key in ("params", "right", "wrong", "data")}
    np.savez(paths["params"], **params)
    np.savez(paths["right"], **right)
    np.savez(paths["wrong"], **wrong)
    np.savez(paths["data"], X, Y)
    paths["cost"] = f"{tmp_path / name}.py:cost"
    paths["expected"] = difference(np.concatenate([wrong["dW"].ravel(), wrong["db"].ravel()]),
                                   np.concatenate([right["dW"].ravel(), right["db"].ravel()]))
    return paths


def difference(grad, gradapprox):
    """The exercise's relative difference."""
    return np.linalg.norm(grad - gradapprox) / (np.linalg.norm(grad) + np.linalg.norm(gradapprox))


def own(files, grads, *extra):
    return run_cli("check", files["cost"], "--params", files["params"], "--grads", files[grads],
                   "--args", files["data"], *extra)


def strict_json(text):
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_right_gradients_pass_with_exit_status_0(files):
    done = own(files, "right")
    assert done.returncode == 0, done.stderr
    assert "fastcheck PASSED" in done.stdout and "WRONG" not in done.stdout
    assert done.stdout.startswith(f"checking {files['cost']}: params from")
    assert done.stderr == ""


def test_planted_mistake_fails_with_strict_json(files):
    done = own(files, "wrong", "--json")
    assert done.returncode == 1, done.stderr
    got = strict_json(done.stdout)
    assert got["suspects"] == ["b"] and got["passed"] is False
    assert [row["name"] for row in got["per_tensor"]] == ["W", "b"]
    assert got["difference"] == pytest.approx(files["expected"], rel=1e-5)


@pytest.mark.parametrize("flags, checked, engine", [
    (["--only", "b", "--no-jit"], {"W": 0, "b": 1}, "python"),
    (["--exclude", "b", "--method", "richardson"], {"W": 3, "b": 0}, "python"),
    (["--jit", "--sample", "2", "--seed", "1", "--eps", "1e-6"], None, "generic"),
])
def test_check_options_reach_the_check(files, flags, checked, engine):
    done = own(files, "wrong", "--json", *flags)
    got = strict_json(done.stdout)
    assert got["engine"] == engine
    rows = {row["name"]: row["checked"] for row in got["per_tensor"]}
    if checked is not None:
        assert rows == checked
        assert done.returncode == (1 if checked["b"] else 0)
    else:
        assert got["checked"] == 2 and got["eps"] == 1e-6


def test_args_go_in_their_stored_order(files, tmp_path):
    X, Y = np.load(files["data"]).values()
    np.savez(tmp_path / "swapped.npz", Y, X)
    done = run_cli("check", files["cost"], "--params", files["params"], "--grads",
                   files["right"], "--args", tmp_path / "swapped.npz")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert own(files, "right").returncode == 0


@pytest.mark.parametrize("argv, words", [
    (["--params", "{params}"], "needs --grads"),
    (["--params", "{params}", "--grads", "{right}", "--sizes", "3,1"], "--sizes describes"),
    (["--params", "{params}", "--grads", "{right}", "--args", "{data}", "--sample", "100"],
     "--sample 100 asks for 100 coordinates but there are only 4 parameters; leave out "
     "--sample"),
    (["--params", "{params}", "--grads", "{right}", "--args", "{data}", "--only", "Q"],
     "--only names 'Q'"),
])
def test_usage_errors_in_the_shells_words(files, argv, words):
    done = run_cli("check", files["cost"], *[arg.format(**files) for arg in argv])
    assert done.returncode == 2
    assert words in done.stderr and "sample=" not in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize("spec, words", [
    ("{dir}/nowhere.py:cost", "no such file"),
    ("{file}", "expected the cost as FILE.py:NAME"),
    ("{file}:nope", "has no 'nope'; its functions are cost, sigmoid"),
    ("{file}:LABEL", "is a str, not a function"),
])
def test_a_cost_that_cannot_be_loaded_is_a_usage_error(files, spec, words):
    file = files["cost"].rpartition(":")[0]
    done = run_cli("check", spec.format(dir=files["params"].parent, file=file),
                   "--params", files["params"], "--grads", files["right"])
    assert done.returncode == 2 and words in done.stderr, done.stderr


def test_a_cost_file_that_raises_on_import(tmp_path):
    (tmp_path / "broken_cost.py").write_text("import numpy as np\n1 / 0\n")
    np.savez(tmp_path / "p.npz", W=np.ones(2))
    done = run_cli("check", f"{tmp_path}/broken_cost.py:cost", "--params", tmp_path / "p.npz",
                   "--grads", tmp_path / "p.npz")
    assert done.returncode == 2
    assert "importing broken_cost.py raised ZeroDivisionError" in done.stderr


def test_args_belong_to_your_own_cost(files):
    done = run_cli("check", "--sizes", "3,2", "--args", files["data"])
    assert done.returncode == 2 and "--args goes with your own cost" in done.stderr


def test_params_without_sizes_gives_a_hint(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "p.npz", W1=rng.standard_normal((5, 4)), b1=np.zeros((5, 1)),
             W2=rng.standard_normal((1, 5)), b2=np.zeros((1, 1)))
    done = run_cli("check", "--params", tmp_path / "p.npz")
    assert done.returncode == 2
    assert "add --sizes 4,5,1" in done.stderr


def test_version():
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"fastcheck {importlib.metadata.version('fastcheck')}"


@pytest.mark.parametrize("python, shell", [
    ("sample=np.int64(100) asks for 100 coordinates; use sample=None to check them all",
     "--sample 100 asks for 100 coordinates; leave out --sample to check them all"),
    ("engine='generic' compiles the cost; it cannot go with jit=False",
     "--engine generic compiles the cost; it cannot go with --no-jit"),
    ("threads must be an integer from 1 to 2, got 9", "--threads must be an integer from 1 to "
                                                      "2, got 9"),
    ("the tensor 'sample' is fine", "the tensor 'sample' is fine"),
    ("Use a larger eps, or eps=None for a step scaled to each parameter",
     "Use a larger eps, or leave out --eps for a step scaled to each parameter"),
])
def test_messages_are_said_with_flags(python, shell):
    from fastcheck.app.owncost import shell_words
    assert shell_words(python) == shell

"""What a result shows in a notebook: ``_repr_html_`` and the short ``__repr__``.

The HTML is parsed back into rows with the standard library's parser and
judged against what the test planted (which tensors are wrong, how many there
are), never against the text report it mirrors.
"""

from html.parser import HTMLParser

import numpy as np

import fastcheck as fc
from fastcheck.report.result import REPORT_ROWS


class Rows(HTMLParser):
    """The text of each ``<tr>``'s cells, whether the row is marked, and the
    text outside the table."""

    def __init__(self, html):
        super().__init__()
        self.rows, self.marked, self.text, self._row, self._cell = [], [], [], None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
            self.marked.append(dict(attrs).get("class") == "fastcheck-wrong")
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self.rows.append(tuple(self._row))
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        else:
            self.text.append(data)


def layers_cost(params, X):
    """A stack of small affine layers with tanh, as a user writes it: a helper and a loop."""
    A = X
    for k in range(len(params) // 2):
        A = np.tanh(params[f"W{k}"] @ A + params[f"b{k}"])
    return float(np.sum(A ** 2)) / X.shape[1]


def layers_backward(params, X):
    """The exact gradients of ``layers_cost``."""
    n = len(params) // 2
    acts = [X]
    for k in range(n):
        acts.append(np.tanh(params[f"W{k}"] @ acts[-1] + params[f"b{k}"]))
    grads, dA = {}, 2 * acts[-1] / X.shape[1]
    for k in reversed(range(n)):
        dZ = dA * (1 - acts[k + 1] ** 2)
        grads[f"dW{k}"] = dZ @ acts[k].T
        grads[f"db{k}"] = dZ.sum(axis=1, keepdims=True)
        dA = params[f"W{k}"].T @ dZ
    return grads


def problem(layers, width=2, batch=3):
    rng = np.random.default_rng(0)
    params = {}
    for k in range(layers):
        params[f"W{k}"] = rng.standard_normal((width, width)) * 0.5
        params[f"b{k}"] = rng.standard_normal((width, 1)) * 0.1
    X = rng.standard_normal((width, batch))
    return params, X, layers_backward(params, X)


def test_html_marks_the_planted_mistakes_first():
    params, X, grads = problem(3)
    grads["dW1"] = grads["dW1"] * 2
    grads["db2"] = grads["db2"] + 0.1
    res = fc.check(layers_cost, params, grads, X, engine="python")
    page = Rows(res._repr_html_())
    header, body, marked = page.rows[0], page.rows[1:], page.marked[1:]
    assert header[0] == "tensor" and header[-1] == "verdict"
    assert len(body) == 6
    assert {row[0] for row in body[:2]} == {"W1", "b2"}
    assert [row[-1] for row in body] == ["WRONG"] * 2 + ["ok"] * 4
    assert marked == [True] * 2 + [False] * 4
    assert "fastcheck FAILED" in "".join(page.text)
    assert repr(res).startswith("<CheckResult FAILED mistake")
    assert "wrong: " in repr(res) and "\n" not in repr(res) and len(repr(res)) < 200


def test_html_caps_the_table_like_the_text_report():
    layers = REPORT_ROWS // 2 + 5                      # 2 tensors a layer: 10 over the cap
    params, X, grads = problem(layers)
    planted = f"W{layers - 1}"
    grads["d" + planted] = grads["d" + planted] * 3
    res = fc.check(layers_cost, params, grads, X, engine="python")
    page = Rows(res._repr_html_())
    body = page.rows[1:]
    assert len(body) == REPORT_ROWS
    assert body[0][0] == planted and page.marked[1:].count(True) == 1
    footer = " ".join("".join(page.text).split())
    assert f"{2 * layers - REPORT_ROWS}" in footer and "res.per_tensor" in footer
    table = Rows(res.per_tensor._repr_html_())
    assert table.rows[1:] == body
    # 35 tanh layers: W0's and W1's gradients (5e-10) vanish to 4x what the check can
    # detect there (1.3e-10): "unsure" by rule 6, per tensor.
    assert repr(res.per_tensor) == f"<TensorTable of {2 * layers} tensors: 1 WRONG, " \
                                   f"2 unsure, {2 * layers - 3} ok>"
    assert res.per_tensor.named("unsure") == ["W0", "W1"]


def test_html_escapes_the_users_names():
    params = {"<b>w&": np.array([1.0, 2.0])}
    res = fc.check(lambda p: float(np.sum(p["<b>w&"] ** 2)), params,
                   {"<b>w&": np.array([2.0, 4.0])}, engine="python")
    html = res._repr_html_()
    assert "<b>w&" not in html and "&lt;b&gt;w&amp;" in html
    assert Rows(html).rows[1][0] == "<b>w&"
    assert "fastcheck PASSED" in html


def test_directions_html_and_repr():
    params, X, grads = problem(2)
    res = fc.check_directions(layers_cost, params, grads, X, n=3)
    page = Rows(res._repr_html_())
    assert page.rows[0] == ("direction", "grad . v", "estimate", "relative error")
    assert len(page.rows) == 4
    assert repr(res).startswith("<DirectionsResult PASSED pass") and "3 directions" in repr(res)


def test_locate_html_and_repr():
    params, X, grads = problem(3, width=4, batch=5)
    grads["dW1"] = grads["dW1"] * 2
    res = fc.locate(layers_cost, params, grads, X, engine="python")
    page = Rows(res._repr_html_())
    body, marked = page.rows[1:], page.marked[1:]
    assert body[0][0] == "W1" and body[0][-1] == "WRONG" and marked[0]
    assert not any(marked[1:]) and all(row[-1] != "WRONG" for row in body[1:])
    assert "fastcheck.locate FAILED" in "".join(page.text)
    assert 'style="color: #cf222e"' in res._repr_html_()
    assert repr(res).startswith("<LocateResult FAILED mistake") and "wrong: W1" in repr(res)
    assert "\n" not in repr(res)

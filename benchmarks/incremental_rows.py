"""The README's incremental-engine rows beyond ``test_bench_incremental.py``'s: the
same networks written other ways (``X @ W``, layer classes), an im2col CNN and an
RNN. Full checks, warm; the incremental engine (median of 3), its NumPy pass
alone (tails off, 1 run) and the generic engine (a sample of 3,000 coordinates,
extrapolated); the estimates compared with the generic engine's on its sample.

    python benchmarks/incremental_rows.py xw-784-64-10 classes-784-64-10 cnn rnn
"""
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fastcheck as fc
from fastcheck.engines import incremental
import oonets
rng = np.random.default_rng(0)

def softmax_ce(L, y):
    Z = L - L.max(axis=1, keepdims=True)
    logp = Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))
    return -np.mean(logp[np.arange(L.shape[0]), y])

def xw_cost(p, X, y):
    A = X
    L = len(p) // 2
    for k in range(1, L):
        A = np.maximum(A @ p[f"W{k}"] + p[f"b{k}"], 0.0)
    return softmax_ce(A @ p[f"W{L}"] + p[f"b{L}"], y)

def xw(sizes):
    p = {}
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        p[f"W{k}"] = rng.standard_normal((a, b)) / np.sqrt(a); p[f"b{k}"] = 0.01 * rng.standard_normal((1, b))
    return xw_cost, p, (rng.standard_normal((32, sizes[0])), rng.integers(0, sizes[-1], 32))

def classes(sizes):
    model, X, y = oonets.layer_mlp(sizes=sizes, batch=32, l2=0.0, dropout=0.0, batchnorm=False)
    params = model.get_params()
    def cost(p, X, y):
        model.set_params(p)
        return model.loss(X, y)[0]
    return cost, params, (X, y)

N, S, k, F = 16, 16, 3, 8
H = S - k + 1
ii, jj = np.meshgrid(np.arange(H), np.arange(H), indexing="ij")
def im2col(x):
    return np.stack([x[:, ii + a, jj + b] for a in range(k) for b in range(k)], axis=-1).reshape(N * H * H, k * k)
def cnn_cost(p, imgs, y):
    cols = im2col(imgs)
    Z = np.maximum(cols @ p["K"] + p["bk"], 0.0)
    A = Z.reshape(N, H * H * F)
    return softmax_ce(A @ p["W"] + p["b"], y)
def cnn():
    p = {"K": rng.standard_normal((k * k, F)) / 3, "bk": np.zeros((1, F)) + 0.1,
         "W": rng.standard_normal((H * H * F, 10)) / 40, "b": np.zeros((1, 10))}
    return cnn_cost, p, (rng.standard_normal((N, S, S)), rng.integers(0, 10, N))
T, I, Hd, O = 10, 20, 64, 5
def rnn_cost(p, xs, y):
    h = np.zeros((xs.shape[1], Hd))
    for t in range(xs.shape[0]):
        h = np.tanh(xs[t] @ p["Wx"] + h @ p["Wh"] + p["bh"])
    return softmax_ce(h @ p["Wy"] + p["by"], y)
def rnn():
    p = {"Wx": rng.standard_normal((I, Hd)) / 5, "Wh": rng.standard_normal((Hd, Hd)) / 8,
         "bh": np.zeros((1, Hd)), "Wy": rng.standard_normal((Hd, O)) / 8, "by": np.zeros((1, O))}
    return rnn_cost, p, (rng.standard_normal((T, N, I)), rng.integers(0, O, N))

CASES = {"xw-784-64-10": lambda: xw([784, 64, 10]), "classes-784-64-10": lambda: classes((784, 64, 10)),
         "xw-784-256-128-10": lambda: xw([784, 256, 128, 10]),
         "classes-784-256-128-10": lambda: classes((784, 256, 128, 10)), "cnn": cnn, "rnn": rnn}
GENERIC_SAMPLE = 3000


for name in sys.argv[1:]:
    cost, p, args = CASES[name]()
    g = {kk: np.zeros_like(v) for kk, v in p.items()}
    P = sum(v.size for v in p.values())
    out = {}
    for eng in ("incremental", "numpy-pass", "generic"):
        saved = incremental.TAIL_MIN_COORDS
        if eng == "numpy-pass":
            incremental.TAIL_MIN_COORDS = P + 1
        e = "incremental" if eng == "numpy-pass" else eng
        sample = GENERIC_SAMPLE if eng == "generic" and P > GENERIC_SAMPLE else None
        fc.check(cost, p, g, *args, engine=e, sample=200)
        ts = []
        for _ in range(1 if eng != "incremental" else 3):
            t = time.perf_counter(); r = fc.check(cost, p, g, *args, engine=e, sample=sample)
            ts.append((time.perf_counter() - t) * P / r.checked)
        incremental.TAIL_MIN_COORDS = saved
        out[eng] = (float(np.median(ts)), r)
        print(name, eng, "median %.3f s%s" % (out[eng][0], " (extrapolated from %d)" % r.checked if sample else ""),
              r.engines, [n[:80] for n in r.notes if "generic engine" in n], "load %.1f" % os.getloadavg()[0], flush=True)
    # The same coordinates on both engines (the generic engine's sample, same seed):
    # estimates within its error estimates, the same judgements.
    a = out["generic"][1]
    b = fc.check(cost, p, g, *args, engine="incremental",
                 sample=GENERIC_SAMPLE if P > GENERIC_SAMPLE else None)
    idx = a.indices
    print(name, "P", P, "same coordinates", bool(np.array_equal(idx, b.indices)),
          "within err", bool((np.abs(a.gradapprox_flat[idx] - b.gradapprox_flat[idx])
                              <= a.error_flat[idx]).all()),
          "same judgement", bool(np.array_equal(np.asarray(a.judgement), np.asarray(b.judgement))),
          "vs generic %.1fx, numpy-pass vs generic %.1fx" % (
              out["generic"][0] / out["incremental"][0], out["generic"][0] / out["numpy-pass"][0]),
          flush=True)

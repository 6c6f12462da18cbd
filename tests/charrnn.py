"""A character-level RNN written as the widely copied min-char-rnn script writes it:
the parameters are module globals, ``lossFun`` reads them, keeps its states in
dicts keyed by time step and clips its gradients in place.

``MISTAKE`` plants a bug in the backward pass (the gradient of ``bh`` misses the
tanh derivative) when set to True.
"""

import numpy as np

data = "hello world, hello fastcheck. "
chars = sorted(set(data))
vocab_size = len(chars)
char_to_ix = {ch: i for i, ch in enumerate(chars)}
hidden_size = 12
seq_length = 8
MISTAKE = False

rng = np.random.default_rng(3)
Wxh = rng.standard_normal((hidden_size, vocab_size)) * 0.1
Whh = rng.standard_normal((hidden_size, hidden_size)) * 0.1
Why = rng.standard_normal((vocab_size, hidden_size)) * 0.1
bh = np.zeros((hidden_size, 1)) + 0.01
by = np.zeros((vocab_size, 1)) - 0.01


def lossFun(inputs, targets, hprev):
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dh if MISTAKE else dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t - 1].T)
        dhnext = np.dot(Whh.T, dhraw)
    for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
        np.clip(dparam, -5, 5, out=dparam)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


def batch():
    """``(inputs, targets, hprev)`` of the first sequence of the text."""
    inputs = [char_to_ix[ch] for ch in data[:seq_length]]
    targets = [char_to_ix[ch] for ch in data[1:seq_length + 1]]
    return inputs, targets, np.zeros((hidden_size, 1)) + 0.1


def params():
    return {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by}


def cost(p, inputs, targets, hprev):
    """The user's adapter: put the tensors where the script reads them."""
    global Wxh, Whh, Why, bh, by
    Wxh, Whh, Why, bh, by = p["Wxh"], p["Whh"], p["Why"], p["bh"], p["by"]
    return lossFun(inputs, targets, hprev)[0]


def grads(inputs, targets, hprev):
    _, dWxh, dWhh, dWhy, dbh, dby, _ = lossFun(inputs, targets, hprev)
    return {"Wxh": dWxh, "Whh": dWhh, "Why": dWhy, "bh": dbh, "by": dby}

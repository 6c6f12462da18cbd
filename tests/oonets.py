"""Networks written the way "from scratch" code bases write them, for the tracer's tests.

- ``Model`` of layer objects, as in the "Neural Networks from Scratch" book:
  ``Layer_Dense`` with ``weights`` (n_in, n_out) and ``biases`` (1, n_out),
  ``Activation_ReLU`` (backward ``dinputs[self.inputs <= 0] = 0``),
  ``Layer_BatchNorm``, ``Layer_Dropout`` with a seeded mask, a combined
  softmax and cross-entropy with ``keepdims``, L2 on every weight;
  ``forward``/``backward`` keep their state on ``self``.
- ``FullyConnectedNet`` as CS231n writes it: ``self.params`` of ``W1``, ``b1``
  (M,), ``gamma1``, ``beta1``, ..., batchnorm that updates running means,
  dropout seeded through ``dropout_param``, and ``loss(X, y)`` returning
  ``(loss, grads)`` with ``dscores[range(N), y] -= 1``.

Each backward pass can plant a ``mistake``: ``Model.loss(X, y, mistake=...)``
with "dense_l2" (the L2 gradient halved) or "batchnorm" (the batch mean's own
gradient forgotten), ``FullyConnectedNet(mistake=...)`` with "gamma" (dgamma1
scaled) or "weight" (dW2 scaled).
"""

import numpy as np


class Layer_Dense:
    def __init__(self, n_inputs, n_neurons, rng, l2=0.0):
        self.weights = 0.1 * rng.standard_normal((n_inputs, n_neurons))
        self.biases = 0.01 * rng.standard_normal((1, n_neurons))
        self.l2 = l2

    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = np.dot(inputs, self.weights) + self.biases

    def backward(self, dvalues, mistake=None):
        self.dweights = np.dot(self.inputs.T, dvalues)
        self.dbiases = np.sum(dvalues, axis=0, keepdims=True)
        if self.l2 > 0:
            self.dweights += 2 * self.l2 * self.weights
        if mistake == "dense_l2":
            self.dweights -= self.l2 * self.weights
        self.dinputs = np.dot(dvalues, self.weights.T)

    def params(self):
        return {"weights": self.weights, "biases": self.biases}

    def grads(self):
        return {"weights": self.dweights, "biases": self.dbiases}


class Activation_ReLU:
    def forward(self, inputs, training):
        self.inputs = inputs
        self.output = np.maximum(0, inputs)

    def backward(self, dvalues, mistake=None):
        self.dinputs = dvalues.copy()
        self.dinputs[self.inputs <= 0] = 0


class Layer_BatchNorm:
    def __init__(self, n, eps=1e-5):
        self.gamma = np.ones((1, n)) + 0.1 * np.arange(n) / n
        self.beta = np.zeros((1, n)) + 0.05
        self.eps = eps

    def forward(self, inputs, training):
        self.mu = inputs.mean(axis=0, keepdims=True)
        self.xc = inputs - self.mu
        self.var = np.mean(self.xc ** 2, axis=0, keepdims=True)
        self.std = np.sqrt(self.var + self.eps)
        self.xhat = self.xc / self.std
        self.output = self.gamma * self.xhat + self.beta

    def backward(self, dvalues, mistake=None):
        n = dvalues.shape[0]
        self.dgamma = np.sum(dvalues * self.xhat, axis=0, keepdims=True)
        self.dbeta = np.sum(dvalues, axis=0, keepdims=True)
        dxhat = dvalues * self.gamma
        if mistake == "batchnorm":  # the mean's own gradient forgotten
            self.dinputs = dxhat / self.std
            return
        self.dinputs = (n * dxhat - dxhat.sum(axis=0, keepdims=True)
                        - self.xhat * np.sum(dxhat * self.xhat, axis=0, keepdims=True)) / (
                            n * self.std)

    def params(self):
        return {"gamma": self.gamma, "beta": self.beta}

    def grads(self):
        return {"gamma": self.dgamma, "beta": self.dbeta}


class Layer_Dropout:
    def __init__(self, rate, seed):
        self.rate = 1 - rate
        self.seed = seed

    def forward(self, inputs, training):
        self.inputs = inputs
        rng = np.random.default_rng(self.seed)  # the same mask at every call: checkable
        self.binary_mask = rng.binomial(1, self.rate, size=inputs.shape) / self.rate
        self.output = inputs * self.binary_mask

    def backward(self, dvalues, mistake=None):
        self.dinputs = dvalues * self.binary_mask


class Activation_Softmax_Loss_CategoricalCrossentropy:
    def forward(self, inputs, y_true):
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)
        clipped = np.clip(self.output, 1e-7, 1 - 1e-7)
        return np.mean(-np.log(clipped[range(len(clipped)), y_true]))

    def backward(self, dvalues, y_true, mistake=None):
        samples = len(dvalues)
        self.dinputs = dvalues.copy()
        self.dinputs[range(samples), y_true] -= 1
        self.dinputs = self.dinputs / samples


class Model:
    """A list of layers and a loss; ``loss(X, y)`` is ``(data loss + L2, grads)``."""

    def __init__(self, layers):
        self.layers = layers
        self.loss_activation = Activation_Softmax_Loss_CategoricalCrossentropy()
        self.trainable = [layer for layer in layers if hasattr(layer, "params")]

    def regularization_loss(self):
        return sum(layer.l2 * np.sum(layer.weights * layer.weights)
                   for layer in self.trainable if getattr(layer, "l2", 0) > 0)

    def forward(self, X, training=True):
        output = X
        for layer in self.layers:
            layer.forward(output, training)
            output = layer.output
        return output

    def loss(self, X, y, mistake=None):
        scores = self.forward(X)
        loss = self.loss_activation.forward(scores, y) + self.regularization_loss()
        self.loss_activation.backward(self.loss_activation.output, y)
        dvalues = self.loss_activation.dinputs
        for layer in reversed(self.layers):
            layer.backward(dvalues, mistake)
            dvalues = layer.dinputs
        return loss, self.get_grads()

    # The user's side of fastcheck: names for every trainable tensor.
    def get_params(self):
        return {f"{k}.{name}": v for k, layer in enumerate(self.layers)
                if hasattr(layer, "params") for name, v in layer.params().items()}

    def set_params(self, params):
        for k, layer in enumerate(self.layers):
            for name in getattr(layer, "params", dict)():
                setattr(layer, name, params[f"{k}.{name}"])

    def get_grads(self):
        return {f"{k}.{name}": v for k, layer in enumerate(self.layers)
                if hasattr(layer, "grads") for name, v in layer.grads().items()}


def layer_mlp(sizes=(20, 16, 16, 5), batch=32, seed=0, l2=1e-3, dropout=0.1,
              batchnorm=True):
    """``(model, X, y)``: Dense -> [BatchNorm] -> ReLU -> [Dropout] per hidden layer."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Layer_Dense(n_in, n_out, rng, l2=l2))
        if k < len(sizes) - 2:
            if batchnorm:
                layers.append(Layer_BatchNorm(n_out))
            layers.append(Activation_ReLU())
            if dropout:
                layers.append(Layer_Dropout(dropout, seed=100 + k))
    X = rng.standard_normal((batch, sizes[0]))
    y = rng.integers(0, sizes[-1], batch)
    return Model(layers), X, y


# ---- CS231n's FullyConnectedNet ------------------------------------------------------

def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    sample_mean = np.mean(x, axis=0)
    sample_var = np.var(x, axis=0)
    x_hat = (x - sample_mean) / np.sqrt(sample_var + eps)
    out = gamma * x_hat + beta
    cache = (x, x_hat, sample_mean, sample_var, gamma, eps)
    bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * sample_mean
    bn_param["running_var"] = momentum * running_var + (1 - momentum) * sample_var
    return out, cache


def batchnorm_backward(dout, cache, mistake=False):
    x, x_hat, mu, var, gamma, eps = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    inv = 1.0 / np.sqrt(var + eps)
    dx = inv / N * (N * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0))
    if mistake:
        dgamma = dgamma * 1.05
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        out = x
    return out, (dropout_param, mask)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted), axis=1, keepdims=True)
    log_probs = shifted - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[range(N), y] -= 1
    dx /= N
    return loss, dx


class FullyConnectedNet:
    def __init__(self, hidden_dims, input_dim=3 * 8 * 8, num_classes=10, dropout=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, seed=None, mistake=None):
        self.normalization = normalization
        self.use_dropout = dropout != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.mistake = mistake
        self.params = {}
        rng = np.random.default_rng(0)
        dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(self.num_layers):
            self.params[f"W{i + 1}"] = weight_scale * rng.standard_normal((dims[i], dims[i + 1]))
            self.params[f"b{i + 1}"] = 0.01 * rng.standard_normal(dims[i + 1])
            if normalization == "batchnorm" and i < self.num_layers - 1:
                self.params[f"gamma{i + 1}"] = 1 + 0.1 * rng.standard_normal(dims[i + 1])
                self.params[f"beta{i + 1}"] = 0.1 * rng.standard_normal(dims[i + 1])
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]

    def loss(self, X, y=None):
        caches = {}
        out = X
        for i in range(1, self.num_layers):
            out, caches[f"affine{i}"] = affine_forward(out, self.params[f"W{i}"],
                                                       self.params[f"b{i}"])
            if self.normalization == "batchnorm":
                out, caches[f"bn{i}"] = batchnorm_forward(
                    out, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                    self.bn_params[i - 1])
            out, caches[f"relu{i}"] = relu_forward(out)
            if self.use_dropout:
                out, caches[f"drop{i}"] = dropout_forward(out, self.dropout_param)
        L = self.num_layers
        scores, caches[f"affine{L}"] = affine_forward(out, self.params[f"W{L}"],
                                                      self.params[f"b{L}"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads = {}
        for i in range(1, L + 1):
            W = self.params[f"W{i}"]
            loss += 0.5 * self.reg * np.sum(W * W)
        dout, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, caches[f"affine{L}"])
        grads[f"W{L}"] += self.reg * self.params[f"W{L}"]
        for i in reversed(range(1, L)):
            if self.use_dropout:
                dout = dropout_backward(dout, caches[f"drop{i}"])
            dout = relu_backward(dout, caches[f"relu{i}"])
            if self.normalization == "batchnorm":
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(
                    dout, caches[f"bn{i}"], mistake=self.mistake == "gamma" and i == 1)
            dout, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dout, caches[f"affine{i}"])
            grads[f"W{i}"] += self.reg * self.params[f"W{i}"]
            if self.mistake == "weight" and i == 2:
                grads[f"W{i}"] = grads[f"W{i}"] * 0.9
        return loss, grads


def fc_net(hidden=(16, 12), input_dim=24, classes=6, batch=16, mistake=None, dropout=0.8):
    """``(model, X, y)``: a CS231n FullyConnectedNet with batchnorm, dropout and L2."""
    rng = np.random.default_rng(1)
    model = FullyConnectedNet(list(hidden), input_dim=input_dim, num_classes=classes,
                              dropout=dropout, normalization="batchnorm", reg=0.05,
                              weight_scale=0.2, seed=123, mistake=mistake)
    X = rng.standard_normal((batch, input_dim))
    y = rng.integers(0, classes, batch)
    return model, X, y

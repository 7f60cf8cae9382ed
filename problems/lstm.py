"""GradBench's ``lstm`` (ADBench's): the loss of a diagonal LSTM predicting a text, differentiated.

A text of c characters is a (c, b) matrix of bits (each character's code, most
significant bit first). l stacked LSTM layers of width b, every weight matrix
diagonal (ADBench's quirk), read character t and predict character t + 1:

    x = s_t * w_in;  for each layer j (input x, its state h_j, c_j):
        f = sigmoid(x w_f + b_f)     i = sigmoid(h_j w_i + b_i)
        o = sigmoid(x w_o + b_o)     g = tanh(h_j w_c + b_c)
        c_j = c_j f + i g            h_j = o tanh(c_j)          x = h_j
    y = x * w_out + b_out
    loss = -1 / ((c - 1) b)  sum_t  s_{t+1} . (y - log(sum_k exp(y_k) + 2))

The ``+ 2`` inside the logarithm is ADBench's and GradBench's. Parameters:
``main_params`` (2l, 4b), rows 2j and 2j + 1 the weights and biases of layer j,
each the gates forget, input, output, change in turn; ``extra_params`` (3, b):
w_in, w_out, b_out. Data: the starting ``state`` (2l, b), rows 2j and 2j + 1 h_j
and c_j, and the ``sequence``. The loop over characters is the namespace's own
where it offers one (:func:`problems.ode.repeat`); the layers are unrolled.
PyTorch offers none: ``torch.compile`` unrolls the c - 1 steps, and its compile
time grows faster than c (about five minutes at c = 64 on one core), so the
compiled torch variant cannot reach GradBench's sizes; its eager variants can.

Hand derivatives: a forward pass that keeps every gate, then the adjoint of the
steps from the last character back (the gradient with respect to the gates'
parameters summed over the steps at the end, vectorised).

Sizes ``l2-c1024`` ... ``l6-c8192`` are GradBench's nine workloads (l layers, c
characters, its order). GradBench reads its characters from a text file
(``evals/lstm/data/lstm_full.txt``, Shakespeare as in ADBench, whose widest
character, the typographic apostrophe U+2019, makes b = 14) and draws the state
and parameters uniform in [0, 1) without a seed, so its inputs are not
reproducible: ours have the same shapes, b = 14, characters drawn from letters,
space, newline and U+2019, state and parameters uniform in [0, 1), all from
the run's seeded generator in GradBench's order. The main dimension is c; l
comes from the label (``tiny``: 2 layers, 5 characters; other sizes: 2 layers).

``solve``: gradient descent on the loss (training the network on the text).
"""

from __future__ import annotations

import numpy as np

from backends.base import Differentiable

from .base import Problem, sigmoid
from .ode import repeat

BITS = 14  #: b: the bits of GradBench's text's widest character (U+2019)
GRADBENCH_L = (2, 4, 6)
GRADBENCH_C = (1024, 4096, 8192)
#: GradBench's lstm workloads (l, c), in its order (sorted by l c)
GRADBENCH_WORKLOADS = tuple(sorted(((l, c) for l in GRADBENCH_L for c in GRADBENCH_C), key=lambda v: v[0] * v[1]))
GRADBENCH_SIZES = {f"l{l}-c{c}": i for i, (l, c) in enumerate(GRADBENCH_WORKLOADS)}
#: layers of each named size; any other size has DEFAULT_LAYERS
LAYERS = {"tiny": 2, **{label: GRADBENCH_WORKLOADS[i][0] for label, i in GRADBENCH_SIZES.items()}}
DEFAULT_LAYERS = 2
SIZES = {
    "tiny": 5,
    "small": 10,  # torch.compile unrolls the loop over characters: its compile time grows faster than c
    "medium": 1_024,
    "large": 8_192,
    **{label: GRADBENCH_WORKLOADS[i][1] for label, i in GRADBENCH_SIZES.items()},
}
#: the characters of the generated text: letters, space, newline and the apostrophe of GradBench's text
ALPHABET = np.array([ord(ch) for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ \n"] + [0x2019])


def text_bits(codes: np.ndarray, bits: int = BITS) -> np.ndarray:
    """Each character code as a row of ``bits`` bits, most significant first (GradBench's encoding)."""
    return ((codes[:, None] >> np.arange(bits - 1, -1, -1)) & 1).astype(np.float64)


def make_input(rng: np.random.Generator, layers: int, chars: int, bits: int = BITS):
    """(data, params) as GradBench's eval draws them: text, then state, main and extra parameters."""
    sequence = text_bits(rng.choice(ALPHABET, chars), bits)
    state = rng.random((2 * layers, bits))
    main = rng.random((2 * layers, 4 * bits))
    extra = rng.random((3, bits))
    return {"state": state, "sequence": sequence}, (main, extra)


# --- the objective, written once --------------------------------------------------------------


def lstm_loss(xp, params, data):
    main, extra = params
    sequence, state = data["sequence"], data["state"]
    chars, b = sequence.shape
    layers = main.shape[0] // 2
    gates = [[main[row, k * b : (k + 1) * b] for row in (2 * j, 2 * j + 1) for k in range(4)] for j in range(layers)]
    inputs = sequence * extra[0]
    out_weight, out_bias = extra[1], extra[2]

    def step(t, carry):
        hidden, cell, total = carry
        x = inputs[t]
        new_hidden, new_cell = [], []
        for j, (wf, wi, wo, wc, bf, bi, bo, bc) in enumerate(gates):
            forget = sigmoid(xp, x * wf + bf)
            ingate = sigmoid(xp, hidden[j] * wi + bi)
            outgate = sigmoid(xp, x * wo + bo)
            change = xp.tanh(hidden[j] * wc + bc)
            c = cell[j] * forget + ingate * change
            x = outgate * xp.tanh(c)
            new_hidden.append(x)
            new_cell.append(c)
        y = x * out_weight + out_bias
        normalised = y - xp.log(xp.sum(xp.exp(y)) + 2.0)
        return tuple(new_hidden), tuple(new_cell), total + xp.sum(sequence[t + 1] * normalised)

    start = (
        tuple(state[2 * j] for j in range(layers)),
        tuple(state[2 * j + 1] for j in range(layers)),
        xp.zeros_like(extra[0, 0]),
    )
    _, _, total = repeat(xp, chars - 1, step, start)
    return -total / ((chars - 1) * b)


# --- hand derivatives (NumPy) --------------------------------------------------------------------


def _sigmoid(z):
    return 0.5 * (np.tanh(0.5 * z) + 1.0)


def lstm_value_and_grad(params, data):
    main, extra = params
    sequence, state = data["sequence"], data["state"]
    chars, b = sequence.shape
    layers, steps = main.shape[0] // 2, chars - 1
    weights, biases = main[0::2].reshape(layers, 4, b), main[1::2].reshape(layers, 4, b)
    in_weight, out_weight, out_bias = extra
    hidden, cell = state[0::2].copy(), state[1::2].copy()
    # per step and layer: the layer's input, its h and c before the step, the four gates, tanh(c) after
    dtype = main.dtype
    x_in, h_in, c_in, f, i, o, g, tc = (np.empty((steps, layers, b), dtype) for _ in range(8))
    top, p = np.empty((steps, b), dtype), np.empty((steps, b), dtype)
    total = 0.0
    for t in range(steps):
        x = sequence[t] * in_weight
        for j in range(layers):
            w, bias = weights[j], biases[j]
            x_in[t, j], h_in[t, j], c_in[t, j] = x, hidden[j], cell[j]
            f[t, j] = _sigmoid(x * w[0] + bias[0])
            i[t, j] = _sigmoid(hidden[j] * w[1] + bias[1])
            o[t, j] = _sigmoid(x * w[2] + bias[2])
            g[t, j] = np.tanh(hidden[j] * w[3] + bias[3])
            cell[j] = cell[j] * f[t, j] + i[t, j] * g[t, j]
            tc[t, j] = np.tanh(cell[j])
            hidden[j] = x = o[t, j] * tc[t, j]
        y = x * out_weight + out_bias
        e = np.exp(y)
        s = e.sum() + 2.0
        total += sequence[t + 1] @ (y - np.log(s))
        top[t], p[t] = x, e / s
    count = steps * b

    # the adjoint: y's from the loss, then the steps backward; the pre-activations' adjoints kept
    y_bar = -(sequence[1:] - sequence[1:].sum(axis=1, keepdims=True) * p) / count  # (steps, b)
    a_f, a_i, a_o, a_g = (np.empty((steps, layers, b), dtype) for _ in range(4))
    x_bar_in = np.empty((steps, b), dtype)
    h_bar, c_bar = np.zeros((layers, b), dtype), np.zeros((layers, b), dtype)
    for t in range(steps - 1, -1, -1):
        x_bar = y_bar[t] * out_weight
        for j in range(layers - 1, -1, -1):
            w = weights[j]
            hb = h_bar[j] + x_bar
            ft, it, ot, gt, tct = f[t, j], i[t, j], o[t, j], g[t, j], tc[t, j]
            cb = c_bar[j] + hb * ot * (1.0 - tct * tct)
            c_bar[j] = cb * ft
            a_f[t, j] = cb * c_in[t, j] * ft * (1.0 - ft)
            a_i[t, j] = cb * gt * it * (1.0 - it)
            a_o[t, j] = hb * tct * ot * (1.0 - ot)
            a_g[t, j] = cb * it * (1.0 - gt * gt)
            h_bar[j] = a_i[t, j] * w[1] + a_g[t, j] * w[3]
            x_bar = a_f[t, j] * w[0] + a_o[t, j] * w[2]
        x_bar_in[t] = x_bar
    grad_weights = np.stack(
        [(a_f * x_in).sum(0), (a_i * h_in).sum(0), (a_o * x_in).sum(0), (a_g * h_in).sum(0)], axis=1
    )
    grad_biases = np.stack([a.sum(0) for a in (a_f, a_i, a_o, a_g)], axis=1)
    grad_main = np.empty_like(main)
    grad_main[0::2], grad_main[1::2] = grad_weights.reshape(layers, 4 * b), grad_biases.reshape(layers, 4 * b)
    grad_extra = np.stack([(x_bar_in * sequence[:-1]).sum(0), (y_bar * top).sum(0), y_bar.sum(0)])
    return -total / count, (grad_main, grad_extra)


class LSTM(Problem):
    name = "lstm"
    description = "GradBench's (ADBench's) diagonal LSTM on a text of c characters, l layers (c up to 8,192, l up to 6)"
    size_unit = "characters"
    sizes = SIZES
    gradbench_sizes = tuple(GRADBENCH_SIZES)
    default_sizes = ("small",)
    check_size = "tiny"  # finite differences: two objectives per parameter (266 here)
    max_n = 100_000
    hessian_limit = 0
    long_loop = True  # c - 1 steps: torch.compile unrolls them
    loss = Differentiable(lstm_loss, value_and_grad=lstm_value_and_grad)

    def layers(self, size) -> int:
        """l of a size (by its label; :data:`DEFAULT_LAYERS` for the rest)."""
        return LAYERS.get(size.label, DEFAULT_LAYERS)

    def bytes_per_n(self):
        return 8.0 * BITS * DEFAULT_LAYERS * 40  # every gate of every step, kept for the reverse pass

    def make_data(self, rng, size):
        data, params = make_input(rng, self.layers(size), size.n)
        return {**data, "init_main": params[0], "init_extra": params[1]}

    def init_params(self, rng, size, data):
        # drawn with the data, in GradBench's order (text and state first, then the parameters)
        return data.pop("init_main"), data.pop("init_extra")

    def learning_rate(self, size):
        return 1.0

    def iterations(self, size):
        return 10  # each step is a whole pass over the text; JAX's eager loop compiles it at every call


PROBLEM = LSTM()

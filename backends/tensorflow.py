"""TensorFlow: ``tf.GradientTape`` (reverse) and ``tf.autodiff.ForwardAccumulator``
(forward). Variants: ``tape`` (eager), ``function`` (``tf.function``, loops as
``tf.while_loop``) and ``xla`` (the same with ``jit_compile=True``).

The array namespace is a thin adapter over ``tf.experimental.numpy`` that adds
the few Array API names it spells differently, and TensorFlow's fused
primitives (``tf.math.sigmoid``, ``tf.math.softplus``, ``tf.math.reduce_logsumexp``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off the console

import numpy as np
import tensorflow as tf
import tensorflow.experimental.numpy as tnp

from .base import BackendBase, DeviceUnavailable, Differentiable, check_ad_mode, namespace, python_loop

# Each benchmark cell builds its own tf.function on purpose (its first call, the
# tracing, is timed apart); TensorFlow's "excessive retracing" warning is noise here.
tf.get_logger().setLevel("ERROR")


class _Linalg:
    @staticmethod
    def solve(a, b):
        return tf.linalg.solve(a, b[..., None])[..., 0]


def _astype(x, dtype):
    return tf.cast(x, dtype)


def _concat(arrays, axis=0):
    return tf.concat(arrays, axis=axis)


def _logsumexp(x, axis=None):
    return tf.math.reduce_logsumexp(x, axis=axis)


def _fori_loop(lower, upper, body, state):
    """``jax.lax.fori_loop``'s contract over ``tf.while_loop``: one graph loop under tf.function and XLA."""
    return tf.while_loop(
        lambda i, s: i < upper,
        lambda i, s: (i + 1, body(i, s)),
        (tf.constant(lower), state),
        maximum_iterations=upper - lower,
    )[1]  # a fixed trip count: XLA and reverse mode need it


_ARRAY_API = dict(
    linalg=_Linalg(),
    astype=_astype,
    concat=_concat,
    matrix_transpose=tf.linalg.matrix_transpose,
    logsumexp=_logsumexp,
    fori_loop=_fori_loop,
)
#: Array API names over ``tf.experimental.numpy``, with TensorFlow's fused primitives.
xp = namespace(tnp, "backends.tensorflow.xp", **_ARRAY_API, sigmoid=tf.math.sigmoid, softplus=tf.math.softplus)
#: The same for XLA, without sigmoid and softplus: XLA fuses the stable formulas itself, and
#: runs them faster than its lowering of the Sigmoid and Softplus ops (ms, formula against
#: fused op: the XOR network's 10,000 steps 2.25 against 2.46 on 2 threads; the logistic
#: gradient at 100,000 x 100 22.1 against 23.6 on one). Without XLA the fused ops win: the
#: XOR network under tf.function takes 108 with them, 130 with the formulas.
xp_xla = namespace(tnp, "backends.tensorflow.xp_xla", **_ARRAY_API)


class TensorflowBackend(BackendBase):
    def __init__(self, info, variant):
        super().__init__(info, variant)
        self.xp = xp_xla if variant.name == "xla" else xp
        self._device = "/CPU:0"

    def version(self) -> str:
        return tf.__version__

    def set_threads(self, threads: int) -> dict:
        done: dict = {}
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as exc:  # the runtime is already initialised
            done["tf_error"] = str(exc)
        done["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        done["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
        return done

    def devices(self) -> list[str]:
        return ["cpu", "gpu"] if tf.config.list_physical_devices("GPU") else ["cpu"]

    def use_device(self, device: str) -> None:
        if device == "gpu" and not tf.config.list_physical_devices("GPU"):
            raise DeviceUnavailable("tensorflow sees no GPU (tf.config.list_physical_devices('GPU') is empty)")
        self._device = "/GPU:0" if device == "gpu" else "/CPU:0"

    def device(self) -> str:
        return "gpu" if "GPU" in self._device else "cpu"

    def asarray(self, a, dtype):
        with tf.device(self._device):
            return tf.identity(tf.constant(np.asarray(a), dtype=dtype))

    def to_numpy(self, x):
        return x.numpy()

    def block(self, x):
        if self._device != "/CPU:0":
            tf.test.experimental.sync_devices()
        return x

    def _fn(self, f: Differentiable):
        xp = self.xp
        return lambda x, data: f.value(xp, x, data)

    def value_and_grad(self, f: Differentiable):
        fn = self._fn(f)

        def value_and_grad(params, data):
            with tf.GradientTape() as tape:
                tape.watch(params)
                value = fn(params, data)
            return value, tuple(tape.gradient(value, params))

        return value_and_grad

    def hessian(self, f: Differentiable):
        fn = self._fn(f)

        def hessian(w, data):
            with tf.GradientTape() as outer:
                outer.watch(w)
                with tf.GradientTape() as inner:
                    inner.watch(w)
                    value = fn(w, data)
                grad = inner.gradient(value, w)
            return outer.jacobian(grad, w)

        return hessian

    # Second order, chosen by measurement (one thread, CPU ms; eager / function / xla):
    #   Hessian: the jacobian of the gradient with pfor (the default) 195 / 23.7 / 15.4 on
    #     newton medium; with a while loop over rows (experimental_use_pfor=False) - / 36.8 / 24.1.
    #   HVP: reverse over reverse (the gradient of <g, v>) 10.9 / 1.47 / 1.00 on newton medium,
    #     3.3 / 0.52 / 0.42 on kmeans small; forward over reverse (a ForwardAccumulator over
    #     the tape) 37.5 / 3.8 / 2.7 and 14.5 / 0.43 / 0.48.
    def hvp(self, f: Differentiable):
        fn = self._fn(f)

        def hvp(w, v, data):
            with tf.GradientTape() as outer:
                outer.watch(w)
                with tf.GradientTape() as inner:
                    inner.watch(w)
                    value = fn(w, data)
                grad = inner.gradient(value, w)
            return outer.gradient(grad, w, output_gradients=v)

        return hvp

    def jvp(self, f: Differentiable):
        fn = self._fn(f)

        def jvp(x, t, data):
            with tf.autodiff.ForwardAccumulator(x, t) as acc:
                y = fn(x, data)
            return y, acc.jvp(y)

        return jvp

    def vjp(self, f: Differentiable):
        fn = self._fn(f)

        def vjp(x, u, data):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = fn(x, data)
            return y, tuple(tape.gradient(y, x, output_gradients=u))

        return vjp

    def gradient_in(self, f: Differentiable, mode: str):
        check_ad_mode(mode)
        fn, zero = self._fn(f), tf.UnconnectedGradients.ZERO

        # a new tensor for w: a tape or an accumulator follows a tensor object, which data may hold too
        def reverse(w, data):
            w = tf.identity(w)
            with tf.GradientTape() as tape:
                tape.watch(w)
                value = fn(w, data)
            return tape.gradient(value, w, unconnected_gradients=zero)

        def forward(w, data):  # one ForwardAccumulator per entry
            w = tf.identity(w)
            basis = tf.eye(w.shape[0], dtype=w.dtype)
            out = []
            for i in range(w.shape[0]):
                with tf.autodiff.ForwardAccumulator(w, basis[i]) as acc:
                    value = fn(w, data)
                out.append(acc.jvp(value, unconnected_gradients=zero))
            return tf.stack(out)

        gradient = reverse if mode == "reverse" else forward
        if not self.variant.compiled:
            return gradient
        # compiled until a trace branches on a value (a search's loop): from then on eagerly
        state = {"fn": self.compile(gradient)}

        def call(w, data):
            try:
                return state["fn"](w, data)
            except tf.errors.OperatorNotAllowedInGraphError:
                state["fn"] = gradient
                return gradient(w, data)

        return call

    def jacobian(self, f: Differentiable):
        fn, zero = self._fn(f), tf.UnconnectedGradients.ZERO

        # Forward mode, one ForwardAccumulator per column, chosen by measurement (ba1's 15 compressed columns,
        # one thread, ms; tape / function / xla): a loop of accumulators 3057 / 45 / 96, the same vectorised
        # by tf.vectorized_map (pfor) 3262 / 93 / 174. Reverse mode (tape.jacobian) needs one pass per output.
        def jacobian(w, data):
            basis = tf.eye(w.shape[0], dtype=w.dtype)
            columns = []
            for i in range(w.shape[0]):
                with tf.autodiff.ForwardAccumulator(w, basis[i]) as acc:
                    value = fn(w, data)
                columns.append(acc.jvp(value, unconnected_gradients=zero))
            return tf.stack(columns, axis=1)

        return jacobian

    def compile(self, fn):
        if not self.variant.compiled:
            return fn
        # No AutoGraph: problems hold no tensor-dependent Python control flow (loops
        # go through ``iterate``), and AutoGraph's source-based conversion confuses
        # closures built from the same lambdas and converts the wrong function.
        return tf.function(fn, autograph=False, jit_compile=self.variant.name == "xla")

    def iterate(self, body, n):
        if not self.variant.compiled:
            return python_loop(body, n)

        def run(state, data):
            return tf.while_loop(lambda i, s: i < n, lambda i, s: (i + 1, body(s, data)), (tf.constant(0), state))[1]

        return self.compile(run)


def make(info, variant) -> TensorflowBackend:
    return TensorflowBackend(info, variant)

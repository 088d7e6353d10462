"""Shared helpers for the keras-gates tests.

Everything here is plain Python on top of the public Keras API (no
`keras.src`). Shapes are kept tiny so that the suite runs in minutes on a
couple of CPU cores; the backend is whatever `KERAS_BACKEND` says
(tensorflow or jax).
"""

import dataclasses

import keras
import numpy as np
import pytest

import keras_gates

BACKEND = keras.backend.backend()

# Default tiny problem size: batch, time, features, units.
BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 3

tf_only = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="uses tf.GradientTape / tf.function (TensorFlow backend only)",
)
jax_only = pytest.mark.skipif(
    BACKEND != "jax", reason="uses jax.grad / jax.jit (JAX backend only)"
)


@pytest.fixture(autouse=True, scope="session")
def share_of_cost_warning():
    """GateMonitor warns when its own work passes a share of an epoch; on
    the tiny fits of the tests that depends on the machine's load, not on
    the code, so it is off (fixtures of any scope included) except in tests
    marked `cost_warning`. Yields the real share."""
    from keras_gates.callbacks import cost

    share, cost.SHARE = cost.SHARE, float("inf")
    yield share
    cost.SHARE = share


@pytest.fixture(autouse=True)
def cost_warning_where_marked(request, monkeypatch, share_of_cost_warning):
    if request.node.get_closest_marker("cost_warning") is not None:
        from keras_gates.callbacks import cost

        monkeypatch.setattr(cost, "SHARE", share_of_cost_warning)


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """One recurrent layer type under test, with its fixed arguments."""

    name: str  # "LSTM", "GRU" or "SimpleRNN"
    kwargs: tuple = ()  # fixed constructor arguments, as (key, value) pairs

    @property
    def id(self):
        extra = "-".join(f"{k}={v}" for k, v in self.kwargs)
        return f"{self.name}-{extra}" if extra else self.name

    @property
    def stock_class(self):
        return getattr(keras.layers, self.name)

    @property
    def gates_class(self):
        return getattr(keras_gates, self.name)

    @property
    def stock_cell_class(self):
        return getattr(keras.layers, self.name + "Cell")

    @property
    def gates_cell_class(self):
        return getattr(keras_gates, self.name + "Cell")

    @property
    def num_states(self):
        return 2 if self.name == "LSTM" else 1

    @property
    def reset_after(self):
        return dict(self.kwargs).get("reset_after", True)

    @property
    def gate_names(self):
        return {
            "LSTM": (
                "input",
                "forget",
                "candidate",
                "output",
                "cell",
                "hidden",
            ),
            "GRU": ("update", "reset", "candidate", "hidden"),
            "SimpleRNN": ("hidden",),
        }[self.name]

    def stock(self, units=UNITS, **kwargs):
        return self.stock_class(units, **dict(self.kwargs), **kwargs)

    def gates(self, units=UNITS, **kwargs):
        return self.gates_class(units, **dict(self.kwargs), **kwargs)


CELLS = (
    CellSpec("LSTM"),
    CellSpec("GRU"),
    CellSpec("GRU", (("reset_after", False),)),
    CellSpec("SimpleRNN"),
)


@pytest.fixture(params=CELLS, ids=lambda spec: spec.id)
def cell(request):
    """Every layer type: LSTM, GRU (both reset_after), SimpleRNN."""
    return request.param


@pytest.fixture
def dtype_policy():
    """Restore the global dtype policy after a test that changes it."""
    previous = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(previous)


# --------------------------------------------------------------- inputs


def random_inputs(shape=(BATCH, TIME, FEATURES), seed=0, scale=1.0):
    """Seeded standard-normal float32 array."""
    rng = np.random.default_rng(seed)
    return (scale * rng.standard_normal(shape)).astype("float32")


def make_mask(kind, batch=BATCH, time=TIME):
    """A boolean (batch, time) mask; True marks real steps.

    Every sample keeps at least one real step. "right": padding at the end
    (of different lengths), "left": padding at the start, "holes": single
    masked steps in the middle as well.
    """
    mask = np.ones((batch, time), bool)
    if kind == "right":
        for b in range(batch):
            mask[b, time - (b % (time - 1)) :] = False
            mask[b, :1] = True
    elif kind == "left":
        for b in range(batch):
            mask[b, : b % (time - 1) + 1] = False
    elif kind == "holes":
        mask[:, 1] = False
        mask[0, 3:] = False
        mask[-1, 0] = False
    elif kind is not None:
        raise ValueError(kind)
    assert mask.any(axis=1).all()
    return mask


def zero_padded(x, mask):
    """`x` with zeros at masked steps, for a `keras.layers.Masking` layer."""
    return np.where(mask[..., None], x, 0.0).astype(x.dtype)


def random_states(spec, batch=BATCH, units=UNITS, seed=1):
    rng = np.random.default_rng(seed)
    return [
        rng.uniform(-0.9, 0.9, (batch, units)).astype("float32")
        for _ in range(spec.num_states)
    ]


# --------------------------------------------------------------- layers


def randomize_weights(layer, seed=0, scale=0.5):
    """Give a built layer seeded random weights (nonzero biases too)."""
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [
            (scale * rng.standard_normal(w.shape)).astype("float32")
            for w in layer.get_weights()
        ]
    )


def build_pair(stock, gated, input_shape, seed=0, scale=0.5):
    """Build both layers, randomize stock's weights, copy them to `gated`."""
    stock.build(input_shape)
    gated.build(input_shape)
    randomize_weights(stock, seed, scale)
    gated.set_weights(stock.get_weights())
    return stock, gated


def make_pair(
    spec,
    input_shape=(BATCH, TIME, FEATURES),
    weight_seed=0,
    weight_scale=0.5,
    **kwargs,
):
    """A stock layer and a keras-gates layer with the same random weights.

    `kwargs` go to both constructors (`seed` included).
    """
    stock, gated = spec.stock(**kwargs), spec.gates(**kwargs)
    return build_pair(stock, gated, input_shape, weight_seed, weight_scale)


# ------------------------------------------------------------ comparing


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def as_list(outputs):
    """A layer's output(s) as a list."""
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    return [outputs]


def assert_close(actual, expected, atol=1e-5, rtol=1e-5, msg=""):
    """Element-wise closeness of (nested) tensors; structures must match."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), msg
        assert list(actual) == list(expected), msg
        for key in expected:
            assert_close(
                actual[key], expected[key], atol, rtol, f"{msg}[{key}]"
            )
        return
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)), msg
        assert len(actual) == len(expected), msg
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, atol, rtol, f"{msg}[{i}]")
        return
    a = np.asarray(to_numpy(actual), dtype="float64")
    e = np.asarray(to_numpy(expected), dtype="float64")
    assert a.shape == e.shape, f"{msg}: shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, atol=atol, rtol=rtol, err_msg=msg)


def assert_not_close(a, b, atol=1e-3):
    a, b = to_numpy(a), to_numpy(b)
    assert np.max(np.abs(a - b)) > atol, "expected different values"

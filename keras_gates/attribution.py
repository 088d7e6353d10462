"""Which input steps move a gate unit, or a model output: attribution over
time, computed with tf-keras-vis.

`attribution(model, x, ...)` returns one number per sequence and step,
(batch, time), in input order. The target is either a model output
(`output=` an index of its last axis) or a gate unit of a recurrent layer
(`layer=`, `gate=`, `unit=`) at one step (`step=`) or averaged over the
valid steps. Methods:

- `"saliency"`: the L2 norm over the features of the gradient of the
  target with respect to the input at each step, `||d target / d x_t||`
  (tf-keras-vis `Saliency`);
- `"smoothgrad"`: the same norm of the gradient averaged over noisy copies
  of the input, `sqrt(mean_n ||d target / d x_t (x + noise_n)||^2)` (noise
  with standard deviation `smooth_noise` times the input's range, drawn
  from a generator of its own), tf-keras-vis `Saliency` on each copy;
- `"gradient_x_input"`: `sum_features(d target / d x_t * x_t)`, signed;
- `"gradcam"`: Grad-CAM over time (tf-keras-vis `Gradcam`): the channels
  of a sequence of features inside the model are weighted by the mean over
  steps of the target's gradient, summed per step and clipped at zero. The
  features are, for a gate target, the sequence its layer reads (its own
  output cannot explain its gate at the same step); for an output target,
  the output sequence of the last recurrent layer when it returns
  sequences, else the sequence that layer reads; `feature_layer=` names
  another layer whose output is (batch, time, channels).

Models that take integer tokens, or texts that a vocabulary layer inside
the model (`TextVectorization`, `StringLookup`, a KerasHub tokenizer)
turns into tokens, are differentiated at the output of their one
`Embedding`: "the input at a step" is the token's embedding vector, and
the feature reductions above run over its dimensions, so each token gets
one number; the steps are the embedding's (for texts, the tokens the
vocabulary layer makes, not the input's own axis). Masked steps (padding)
get zero. tf-keras-vis runs on TensorFlow only: on another backend
`attribution` raises an error.
"""

import numbers
import warnings

import keras
import numpy as np
from keras import ops

from keras_gates.layers.kind import kind_of
from keras_gates.lookup import (
    check_gate,
    check_units,
    find_layer,
    find_recurrent,
)
from keras_gates.probe import check_inputs, value_kind
from keras_gates.scoring import Scorers, embedded, embedding_of

METHODS = ("saliency", "smoothgrad", "gradient_x_input", "gradcam")


class Target:
    """What to attribute: a model output or one gate unit.

    Built by `attribution` from its keyword arguments (see there); `kind`
    is "output" or "gate".
    """

    def __init__(self, model, output, layer, gate, unit, step, time):
        owner = "attribution"
        self.step = _check_step(step, time)
        if layer is None:
            if gate is not None or unit is not None:
                raise ValueError(
                    f"{owner}: `gate` and `unit` need `layer` (the recurrent "
                    "layer whose gate to explain)."
                )
            self.kind = "output"
            self.output = _check_output(model, output)
            if step is not None and len(model.outputs[0].shape) != 3:
                raise ValueError(
                    f"{owner}: `step` needs a sequence output; model "
                    f"'{model.name}' outputs shape {model.outputs[0].shape}."
                )
            self.layer_name, self.layer = find_recurrent(model, None, owner)[-1]
            return
        if output is not None:
            raise ValueError(
                f"{owner}: give either `output` (a model output) or `layer`, "
                "`gate` and `unit` (a gate unit), not both."
            )
        ((self.layer_name, self.layer),) = find_recurrent(model, [layer], owner)
        check_gate(self.layer, gate, owner, layer)
        if unit is None:
            raise ValueError(
                f"{owner}: give the `unit` of gate {gate!r} to explain "
                f"(layer '{layer}' has {self.layer.cell.units} units)."
            )
        (self.unit,) = check_units(
            unit, self.layer.cell.units, f"{owner}: layer '{layer}'", "unit"
        )
        self.kind, self.gate = "gate", gate
        self.gate_index = kind_of(self.layer).gate_names.index(gate)

    def choice(self):
        """(gate index, unit, output index, step or -1) for `_Attributed`."""
        step = -1 if self.step is None else self.step
        if self.kind == "output":
            return (0, 0, self.output or 0, step)
        return (self.gate_index, self.unit, 0, step)


def _check_step(step, time):
    if step is None:
        return None
    if not isinstance(step, numbers.Integral) or not 0 <= step < time:
        raise ValueError(
            f"attribution: `step` must be a step index in [0, {time}), got "
            f"{step!r}."
        )
    return int(step)


def _check_output(model, output):
    if len(model.outputs) != 1:
        raise ValueError(
            f"attribution: model '{model.name}' has {len(model.outputs)} "
            "outputs; attribution explains models with one output."
        )
    size = model.outputs[0].shape[-1]
    if output is None:
        if size != 1:
            raise ValueError(
                f"attribution: model '{model.name}' has {size} outputs per "
                "sample; pass `output=` the index (e.g. the class) to explain."
            )
        return None
    if not isinstance(output, numbers.Integral) or not 0 <= output < size:
        raise ValueError(
            f"attribution: `output` must be an index in [0, {size}) of model "
            f"'{model.name}''s last axis, got {output!r}."
        )
    return int(output)


def attribution(
    model: keras.Model,
    x,
    *,
    output: int | None = None,
    layer: str | None = None,
    gate: str | None = None,
    unit: int | None = None,
    step: int | None = None,
    method: str = "saliency",
    smooth_samples: int = 20,
    smooth_noise: float = 0.2,
    feature_layer: str | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Per-step attribution of a model output or a gate unit to the inputs.

    See the module docstring for the targets and methods. Steps are in
    input order (also for a `Bidirectional`'s backward half, whose gates
    `keras_gates.gates` gives in processing order).

    Args:
        model: a built single-input Keras model with stock or keras-gates
            recurrent layers (also `Bidirectional` halves by
            `<name>/forward|backward`, nested models, loaded files).
        x: inputs, (batch, time, features), or (batch, time) integer
            tokens for a model that starts with an `Embedding`, or texts
            for a model that takes strings (its `Input`'s shape).
        output: index of the model output's last axis to explain (a class);
            None for a model with a single output value.
        layer, gate, unit: the gate unit to explain instead.
        step: the step of the target (input order); None: its mean over
            the valid steps.
        method: "saliency", "smoothgrad", "gradient_x_input" or "gradcam".
        smooth_samples, smooth_noise: SmoothGrad's noisy copies and noise
            level (a fraction of each sequence's value range).
        feature_layer: name of the layer whose output Grad-CAM weighs.
        seed: seed of SmoothGrad's noise (its own generator; NumPy's
            global random state is not used).

    Returns:
        float32 array (batch, time); zero at masked steps.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential(
    ...     [keras.Input((6, 2)), keras.layers.LSTM(3, name="lstm")]
    ... )
    >>> x = np.random.default_rng(0).normal(size=(2, 6, 2))
    >>> where = keras_gates.attribution(
    ...     model, x, layer="lstm", gate="forget", unit=0, step=3
    ... )
    >>> where.shape, bool((where[:, 4:] == 0).all())
    ((2, 6), True)
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "attribution uses tf-keras-vis, which runs on TensorFlow only; "
            f"the Keras backend is {keras.backend.backend()!r}. Set "
            "KERAS_BACKEND=tensorflow."
        )
    if method not in METHODS:
        raise ValueError(
            f"attribution: `method` must be one of {METHODS}, got {method!r}."
        )
    if not isinstance(model, keras.Model) or len(model.inputs or ()) != 1:
        raise ValueError(
            "attribution: expected a built Keras model with one input, got "
            f"{type(model).__name__}."
        )
    check_inputs(model, x, "attribution: x")
    x = np.asarray(x)
    if x.ndim < 2 and value_kind(x) != "texts":
        raise ValueError(
            f"attribution: x must have a time axis, got shape {x.shape}."
        )
    return Attributor(model).attribute(
        x,
        output=output,
        layer=layer,
        gate=gate,
        unit=unit,
        step=step,
        method=method,
        smooth_samples=smooth_samples,
        smooth_noise=smooth_noise,
        feature_layer=feature_layer,
        seed=seed,
    )


class Attributor:
    """Attribution for one model, keeping its compiled score functions, so
    that asking again (another unit, another epoch) reuses their traces.

    `attribution(model, x, ...)` is `Attributor(model).attribute(x, ...)`;
    GateMonitor keeps one Attributor for its whole run.

    Args:
        model: a built single-input Keras model (see `attribution`).
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self._scorers = Scorers(model)

    def attribute(
        self,
        x,
        *,
        output: int | None = None,
        layer: str | None = None,
        gate: str | None = None,
        unit: int | None = None,
        step: int | None = None,
        method: str = "saliency",
        smooth_samples: int = 20,
        smooth_noise: float = 0.2,
        feature_layer: str | None = None,
        seed: int | None = None,
    ) -> np.ndarray:
        """`attribution(self.model, x, ...)`: the same arguments."""
        model = self.model
        x = np.asarray(x)
        embedding = embedding_of(model)
        tokens = None
        if embedding is None:
            seed_input = ops.convert_to_tensor(x, model.inputs[0].dtype)
        else:
            tokens = ops.convert_to_tensor(x, model.inputs[0].dtype)
            seed_input = embedded(model, embedding, tokens)
        time = seed_input.shape[1]
        target = Target(model, output, layer, gate, unit, step, time)
        features = None
        if feature_layer is not None:
            features = find_layer(model, feature_layer, "attribution")
        # tf-keras-vis's Grad-CAM differentiates the score with respect to
        # the features, an output of the same call: it cannot run compiled.
        scored, scorer, named = self._scorers.get(
            target,
            embedding,
            features,
            seed_input.shape[1:],
            compiled=method != "gradcam",
        )
        scored.tokens, scored.choice = tokens, target.choice()
        values = _by_method(
            method,
            scorer,
            named,
            seed_input,
            smooth_samples,
            smooth_noise,
            np.random.default_rng(seed),
        )
        if values.shape[1] != time:
            raise ValueError(
                f"attribution: the Grad-CAM features have {values.shape[1]} "
                f"steps, the input has {time}; choose a "
                "`feature_layer` with one step per input step."
            )
        scored(seed_input)  # the mask of the input itself (not noisy)
        valid = ops.convert_to_numpy(scored.valid)
        return np.where(valid, values, 0.0).astype("float32")


def _by_method(method, scorer, features, seed_input, samples, noise, rng):
    """The (batch, time) attribution by one method, through tf-keras-vis."""
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency

    def score(values):
        return values

    with warnings.catch_warnings():
        # tf-keras-vis hands a single-input model a list of one tensor.
        warnings.filterwarnings("ignore", "The structure of `inputs`")
        if method == "gradcam":
            cam = Gradcam(scorer)(
                score,
                seed_input,
                penultimate_layer=features,
                seek_penultimate_conv_layer=False,
                expand_cam=False,
                normalize_cam=False,
            )
            return np.asarray(cam)
        saliency = Saliency(scorer)
        keep = dict(keepdims=True, normalize_map=False)
        if method == "gradient_x_input":
            grads = saliency(score, seed_input, gradient_modifier=None, **keep)
            return np.sum(np.asarray(grads) * np.asarray(seed_input), axis=-1)
        copies = [seed_input]
        if method == "smoothgrad":
            copies = _noisy(np.asarray(seed_input), samples, noise, rng)
        squares = sum(
            np.asarray(
                saliency(score, copy, gradient_modifier=tf.square, **keep)
            )
            for copy in copies
        )
        return np.sqrt(np.sum(squares / len(copies), axis=-1))


def _noisy(seed_input, samples, noise, rng):
    """SmoothGrad's noisy copies of the seed: Gaussian noise with standard
    deviation `noise` times each sequence's range of values (as
    tf-keras-vis draws it, but from `rng`, not NumPy's global state)."""
    axes = tuple(range(1, seed_input.ndim))
    spread = seed_input.max(axis=axes, keepdims=True) - seed_input.min(
        axis=axes, keepdims=True
    )
    sigma = noise * spread
    return [
        (seed_input + rng.normal(size=seed_input.shape) * sigma).astype(
            seed_input.dtype
        )
        for _ in range(samples)
    ]

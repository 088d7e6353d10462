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
  with standard deviation `smooth_noise` times the input's range), i.e.
  tf-keras-vis `Saliency` with `smooth_samples`;
- `"gradient_x_input"`: `sum_features(d target / d x_t * x_t)`, signed;
- `"gradcam"`: Grad-CAM over time (tf-keras-vis `Gradcam`): the channels
  of a sequence of features inside the model are weighted by the mean over
  steps of the target's gradient, summed per step and clipped at zero. The
  features are, for a gate target, the sequence its layer reads (its own
  output cannot explain its gate at the same step); for an output target,
  the output sequence of the last recurrent layer when it returns
  sequences, else the sequence that layer reads; `feature_layer=` names
  another layer whose output is (batch, time, channels).

Models that start with an `Embedding` (integer tokens) are differentiated
at the embedding's output: "the input at a step" is the token's embedding
vector, and the feature reductions above run over its dimensions, so each
token gets one number. Masked steps (padding) get zero. tf-keras-vis runs
on TensorFlow only: on another backend `attribution` raises an error.
"""

import contextlib
import numbers
import warnings
import weakref

import keras
import numpy as np
from keras import ops

from keras_gates.gate_model import check_units, find_layers, gate_names
from keras_gates.probe import (
    check_inputs,
    listen,
    restore_call,
    twin_of,
)

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
            self.layer_name, self.layer = find_layers(model, None, owner)[-1]
            return
        if output is not None:
            raise ValueError(
                f"{owner}: give either `output` (a model output) or `layer`, "
                "`gate` and `unit` (a gate unit), not both."
            )
        ((self.layer_name, self.layer),) = find_layers(model, [layer], owner)
        names = gate_names(self.layer)
        if gate not in names:
            raise ValueError(
                f"{owner}: layer '{layer}' has no gate {gate!r}; its gates "
                f"are {list(names)}."
            )
        if unit is None:
            raise ValueError(
                f"{owner}: give the `unit` of gate {gate!r} to explain "
                f"(layer '{layer}' has {self.layer.cell.units} units)."
            )
        (self.unit,) = check_units(
            unit, self.layer.cell.units, f"{owner}: layer '{layer}'", "unit"
        )
        self.kind, self.gate = "gate", gate

    def choice(self):
        """(gate index, unit, output index, step or -1) for `_Attributed`."""
        step = -1 if self.step is None else self.step
        if self.kind == "output":
            return (0, 0, self.output or 0, step)
        return (gate_names(self.layer).index(self.gate), self.unit, 0, step)


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


def _embedding_of(model):
    """The model's Embedding layer when its input is integer tokens."""
    (tensor,) = model.inputs
    if "int" not in str(tensor.dtype):
        return None
    found = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.Embedding)
    ]
    if len(found) != 1:
        raise ValueError(
            f"attribution: model '{model.name}' takes integer inputs; it "
            "needs exactly one Embedding layer to differentiate at, found "
            f"{[layer.name for layer in found]}."
        )
    return found[0]


@contextlib.contextmanager
def _replaced_call(layer, make_call):
    """Within the block, `layer.call` is `make_call(original_call)`."""
    previous = layer.__dict__.get("call")
    layer.call = make_call(layer.call)
    try:
        yield
    finally:
        restore_call(layer, previous)


class _Attributed(keras.layers.Layer):
    """Maps the seed (the inputs, or the embedding's output) to the
    target's score per sequence and to the Grad-CAM features.

    Runs the whole model; the Embedding's call (if any) is replaced to
    return the seed, the target layer is listened to for its gates and
    its inputs, outputs and mask are recorded. Called eagerly (as
    tf-keras-vis does), it runs one compiled `tf.function`, traced again
    only for new input shapes; `tokens` (for an Embedding) and, after each
    eager call, `valid` (bool (batch, time), False at masked steps) are
    plain attributes.
    """

    def __init__(self, model, target, embedding, feature_layer, compiled):
        import tensorflow as tf

        super().__init__(name="attributed")
        self.model = model
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_embedding", embedding)
        object.__setattr__(self, "_features", feature_layer)
        object.__setattr__(self, "_twin", twin_of(target.layer))
        body = self._body
        if compiled:
            # No autograph: the layers need none, and converting them is slow.
            body = tf.function(body, reduce_retracing=True, autograph=False)
        object.__setattr__(self, "_compiled", body)
        self.built = True
        self.tokens = self.valid = None
        # The gate index, unit, output index and step (-1: the mean over
        # steps) of the target: arguments of the compiled function, so
        # that one trace serves every unit of every gate of a layer.
        self.choice = (0, 0, 0, -1)

    def call(self, seed):
        import tensorflow as tf

        tokens = self.tokens
        if self._embedding is not None and tokens is None:
            # Building the symbolic model: any tokens of the seed's shape.
            tokens = ops.ones(ops.shape(seed)[:2], "int32")
        run = self._compiled if tf.executing_eagerly() else self._body
        choice = ops.convert_to_tensor(self.choice, "int32")
        score, features, valid = run(seed, tokens, choice)
        self.valid = valid
        return score, features

    def _body(self, seed, tokens, choice):
        target, seen = self._target, {}

        def recording(key):
            def make(original):
                def call(sequences, *args, **kwargs):
                    result = original(sequences, *args, **kwargs)
                    seen[key] = (sequences, kwargs.get("mask"), result)
                    return result

                return call

            return make

        def on_gates(gates, valid, training):
            seen["gates"] = gates

        with contextlib.ExitStack() as stack:
            if self._embedding is not None:
                # A copy: Keras attaches the embedding's mask to what its
                # call returns, and the seed must stay without one.
                stack.enter_context(
                    _replaced_call(
                        self._embedding, lambda _: lambda t: ops.copy(seed)
                    )
                )
            if self._features is not None:
                stack.enter_context(
                    _replaced_call(self._features, recording("features"))
                )
            stack.enter_context(
                _replaced_call(target.layer, recording("target"))
            )
            if target.kind == "gate":
                previous = listen(target.layer, self._twin, on_gates)
                stack.callback(restore_call, target.layer, previous)
            outputs = self.model(
                seed if self._embedding is None else tokens, training=False
            )
        sequences, mask, result = seen["target"]
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        valid = ops.ones(ops.shape(seed)[:2], "bool")
        if mask is not None:
            valid = ops.reshape(ops.cast(mask, "bool"), ops.shape(valid))
        gate, unit, output, step = (choice[i] for i in range(4))
        if target.kind == "gate":
            names = gate_names(target.layer)
            stacked = ops.stack([seen["gates"][name] for name in names])
            values = ops.take(ops.take(stacked, gate, axis=0), unit, axis=-1)
            if target.layer.go_backwards:  # gates come in processing order
                values = ops.flip(values, 1)
        else:
            values = ops.take(outputs, output, axis=-1)
        return (
            _at_step(values, step, valid),
            self._feature_sequence(seen, sequences, result),
            valid,
        )

    def _feature_sequence(self, seen, sequences, result):
        if self._features is not None:
            output = seen["features"][2]
            return output[0] if isinstance(output, (list, tuple)) else output
        output = result[0] if isinstance(result, (list, tuple)) else result
        layer = self._target.layer
        if (
            self._target.kind == "output"
            and layer.return_sequences
            and len(output.shape) == 3
        ):
            return ops.flip(output, 1) if layer.go_backwards else output
        return sequences


def _at_step(values, step, valid):
    """(batch,) scores: `values` itself, or for a sequence (batch, time)
    its column `step`, or for `step` -1 its mean over the valid steps."""
    if len(values.shape) == 1:
        return values
    weights = ops.cast(valid, values.dtype)
    mean = ops.sum(values * weights, 1) / ops.maximum(ops.sum(weights, 1), 1)
    column = ops.take(values, ops.maximum(step, 0), axis=1)
    return ops.where(step >= 0, column, mean)


def attribution(
    model,
    x,
    *,
    output=None,
    layer=None,
    gate=None,
    unit=None,
    step=None,
    method="saliency",
    smooth_samples=20,
    smooth_noise=0.2,
    feature_layer=None,
    seed=None,
):
    """Per-step attribution of a model output or a gate unit to the inputs.

    See the module docstring for the targets and methods. Steps are in
    input order (also for a `Bidirectional`'s backward half, whose gates
    `keras_gates.gates` gives in processing order).

    Args:
        model: a built single-input Keras model with stock or keras-gates
            recurrent layers (also `Bidirectional` halves by
            `<name>/forward|backward`, nested models, loaded files).
        x: inputs, (batch, time, features), or (batch, time) integer
            tokens for a model that starts with an `Embedding`.
        output: index of the model output's last axis to explain (a class);
            None for a model with a single output value.
        layer, gate, unit: the gate unit to explain instead.
        step: the step of the target (input order); None: its mean over
            the valid steps.
        method: "saliency", "smoothgrad", "gradient_x_input" or "gradcam".
        smooth_samples, smooth_noise: SmoothGrad's noisy copies and noise
            level (a fraction of each sequence's value range).
        feature_layer: name of the layer whose output Grad-CAM weighs.
        seed: NumPy seed for SmoothGrad's noise (the global NumPy random
            state is restored afterwards).

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
    if x.ndim < 2:
        raise ValueError(
            f"attribution: x must have a time axis, got shape {x.shape}."
        )
    target = Target(model, output, layer, gate, unit, step, x.shape[1])
    features = None
    if feature_layer is not None:
        features = _find_layer(model, feature_layer)
    embedding = _embedding_of(model)
    tokens = None
    if embedding is None:
        seed_input = ops.convert_to_tensor(x, model.inputs[0].dtype)
    else:
        tokens = ops.convert_to_tensor(x, model.inputs[0].dtype)
        # The embedding's own call: no mask attached to the seed.
        seed_input = embedding.call(tokens)
    attributed, scorer, named = _scorer(
        model, target, embedding, features, seed_input.shape[1:], method
    )
    attributed.tokens, attributed.choice = tokens, target.choice()
    values = _run(
        method, scorer, named, seed_input, smooth_samples, smooth_noise, seed
    )
    if values.shape[1] != x.shape[1]:
        raise ValueError(
            f"attribution: the Grad-CAM features have {values.shape[1]} "
            f"steps, the input has {x.shape[1]}; choose a `feature_layer` "
            "with one step per input step."
        )
    attributed(seed_input)  # the mask of the input itself (not noisy)
    valid = ops.convert_to_numpy(attributed.valid)
    return np.where(valid, values, 0.0).astype("float32")


# model -> {target key: (_Attributed, scorer model, features layer)}: the
# compiled functions of targets asked for again (GateMonitor, each epoch).
_SCORERS = weakref.WeakKeyDictionary()


def _scorer(model, target, embedding, features, seed_shape, method):
    """The model from the seed to a target's score, made once per model,
    layer (or the output), seed shape (without the batch) and method: the
    gate, unit, output index and step are chosen at each call."""
    # tf-keras-vis's Grad-CAM differentiates the score with respect to the
    # features, an output of the same call: it cannot run compiled.
    compiled = method != "gradcam"
    key = (
        target.kind,
        target.layer_name,
        None if features is None else features.name,
        tuple(seed_shape),
        compiled,
    )
    made = _SCORERS.setdefault(model, {})
    if key not in made:
        attributed = _Attributed(model, target, embedding, features, compiled)
        seed_tensor = keras.Input(seed_shape)
        score, feature_seq = attributed(seed_tensor)
        # Grad-CAM's features, as a layer output tf-keras-vis can reach.
        named = keras.layers.Identity(name="gradcam_features")
        named(feature_seq)
        made[key] = (attributed, keras.Model(seed_tensor, score), named)
    return made[key]


def _find_layer(model, name):
    for candidate in model._flatten_layers():
        if candidate.name == name:
            return candidate
    raise ValueError(
        f"attribution: model '{model.name}' has no layer named {name!r}."
    )


def _run(method, scorer, features, seed_input, samples, noise, seed):
    """The (batch, time) attribution by one method, through tf-keras-vis."""

    def score(values):
        return values

    with warnings.catch_warnings():
        # tf-keras-vis hands a single-input model a list of one tensor.
        warnings.filterwarnings("ignore", "The structure of `inputs`")
        return _by_method(
            method, scorer, score, features, seed_input, samples, noise, seed
        )


def _by_method(
    method, scorer, score, features, seed_input, samples, noise, seed
):
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.saliency import Saliency

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
    if method == "gradient_x_input":
        grads = saliency(
            score,
            seed_input,
            keepdims=True,
            gradient_modifier=None,
            normalize_map=False,
        )
        return np.sum(np.asarray(grads) * np.asarray(seed_input), axis=-1)
    state = np.random.get_state()
    if seed is not None:
        np.random.seed(seed)
    try:
        squares = saliency(
            score,
            seed_input,
            smooth_samples=samples if method == "smoothgrad" else 0,
            smooth_noise=noise,
            keepdims=True,
            gradient_modifier=tf.square,
            normalize_map=False,
        )
    finally:
        np.random.set_state(state)
    return np.sqrt(np.sum(np.asarray(squares), axis=-1))

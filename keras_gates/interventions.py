"""Testing what a gate does: `intervene` and `ablate`.

`intervene(model, edits)` returns a model that computes what `model`
computes, except that some gate units are changed inside the recurrence
(`keras_gates.Set`, `keras_gates.Scale`): the rest of the step and every
later step follow from the changed values. It is a Keras model around the
original (its only sublayer), so it shares every variable: training it
trains the original. The edits are applied by listening to the recurrent
layers (`keras_gates.listen`) while the wrapped model is called, so stock
and keras-gates layers, `Bidirectional` halves and nested models all work.

`keras_gates.ablation` builds `ablate` on the same model.
"""

import collections.abc
import contextlib

import keras
from keras import ops

from keras_gates.gate_model import check_model, model_inputs
from keras_gates.layers.edit import GateEdit
from keras_gates.listen import Ear, listening
from keras_gates.lookup import check_gate, check_units, find_recurrent


class Intervened(keras.layers.Layer):
    """Calls `model` with edits applied inside its recurrent layers' loops.

    The layer owns no variables but those of its edits (a `Switch`'s):
    `model` is its only sublayer.

    Args:
        model: a built Keras model.
        edits: dict layer name (as `keras_gates.gates` names it) -> dict
            gate name -> edit.
    """

    def __init__(self, model, edits, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.supports_masking = True
        found = dict(find_recurrent(model, list(edits), type(self).__name__))
        # Plain attributes: the twins read the model's variables and must
        # not be tracked as layers of their own.
        ears = tuple(Ear.of(name, found[name], edits[name]) for name in edits)
        object.__setattr__(self, "_ears", ears)
        every = [edit for ear in ears for edit in ear.edits.values()]
        self.edit_variables = [
            v for edit in every for v in getattr(edit, "variables", ())
        ]
        batch = max([e.value.shape[0] for e in every], default=1)
        object.__setattr__(self, "_batch", batch)
        self.built = True

    @property
    def edits(self):
        """dict layer name -> dict gate name -> edit."""
        return {ear.name: dict(ear.edits) for ear in self._ears}

    def call(self, inputs, training=False):
        inputs = self._check_batch(inputs)
        with contextlib.ExitStack() as stack:
            for ear in self._ears:
                stack.enter_context(listening(ear))
            return self.model(inputs, training=training)

    def _check_batch(self, inputs):
        """`inputs`, if an edit's value with a batch axis fits them."""
        if self._batch == 1:
            return inputs
        batch = ops.shape(keras.tree.flatten(inputs)[0])[0]
        message = (
            f"intervene: an edit's value has a batch axis of {self._batch} "
            f"sequences; call the model on batches of exactly {self._batch} "
            f"(e.g. predict(x, batch_size={self._batch}))"
        )
        if isinstance(batch, int):
            if batch != self._batch:
                raise ValueError(f"{message}, not {batch}.")
            return inputs
        if keras.backend.backend() != "tensorflow":
            return inputs
        import tensorflow as tf

        # Checked when the graph runs, before the layers (under XLA it is
        # compiled to nothing: then the shapes' own error).
        check = tf.debugging.assert_equal(batch, self._batch, message=message)
        with tf.control_dependencies([check]):
            return keras.tree.map_structure(tf.identity, inputs)

    @property
    def metrics(self):
        # Not the wrapped model's compiled metrics (its loss tracker among
        # them, named "loss"): the outer model's would be overwritten by
        # them in `evaluate`'s results.
        return []

    def compute_output_spec(self, inputs, training=False):
        # The edits change values, not shapes (and a value with a batch
        # axis fits no symbolic batch).
        return self.model.compute_output_spec(inputs)

    def compute_mask(self, inputs, mask=None):
        return self.model.compute_mask(inputs, mask)


def split_key(key, owner="intervene"):
    """`"<layer>/<gate>"` as `(layer, gate)`; the layer name may itself
    hold a "/" (`"bi/backward/forget"`)."""
    if not isinstance(key, str) or "/" not in key.strip("/"):
        raise ValueError(
            f"{owner}: edits are keyed '<layer>/<gate>' (e.g. "
            f"'lstm/forget', 'bi/backward/forget'), got {key!r}."
        )
    layer, gate = key.rsplit("/", 1)
    return layer, gate


def static_steps(layer):
    """The number of steps `layer` was built for, or None if not fixed."""
    shapes = getattr(layer, "_build_shapes_dict", None) or {}
    shape = shapes.get("sequences_shape")
    if shape is None or len(shape) < 2 or shape[1] is None:
        return None
    return int(shape[1])


def check_edit(edit, layer, key, owner="intervene"):
    """A ValueError unless `edit` fits the gate of `layer` it is keyed by:
    its units, its steps (when the layer's number of steps is fixed) and
    the steps and units axes of its value."""
    where = f"{owner}: '{key}'"
    if not isinstance(edit, GateEdit):
        raise TypeError(
            f"{where}: expected keras_gates.Set or keras_gates.Scale, got "
            f"{type(edit).__name__}."
        )
    count, steps = layer.cell.units, static_steps(layer)
    check_units(edit.units, count, f"{where}: the gate")
    if steps is not None and edit.steps is not None:
        if max(edit.steps) >= steps:
            raise ValueError(
                f"{where}: the layer runs {steps} steps; `steps` must be "
                f"step indices in [0, {steps}), got {list(edit.steps)}."
            )
    for axis, chosen, size, what in (
        (1, edit.steps, steps, "steps"),
        (2, edit.units, count, "units"),
    ):
        given = edit.value.shape[axis]
        if chosen is None and size is not None and given not in (1, size):
            raise ValueError(
                f"{where}: the value has {given} {what} on axis {axis}; "
                f"with {what}=None it must have 1 or {size} (the layer's "
                f"{what})."
            )


def check_edits(model, edits, owner="intervene"):
    """`edits` checked and grouped: dict layer -> dict gate -> edit."""
    if not isinstance(edits, collections.abc.Mapping):
        raise TypeError(
            f"{owner}: `edits` must be a dict '<layer>/<gate>' -> "
            f"keras_gates.Set or Scale, got {type(edits).__name__}."
        )
    grouped = {}
    for key, edit in edits.items():
        name, gate = split_key(key, owner)
        ((_, layer),) = find_recurrent(model, [name], owner)
        check_gate(layer, gate, owner, name)
        check_edit(edit, layer, key, owner)
        grouped.setdefault(name, {})[gate] = edit
    return grouped


def compile_like(edited, model, metrics=True):
    """Compile `edited` as `model` was compiled (nothing when it was not):
    the same loss, loss weights, jit_compile and, with `metrics`, metrics
    and optimizer object (a fit of either carries on its state)."""
    if not model.compiled:
        return
    config = dict(model._compile_config.config)
    if metrics:
        config["optimizer"] = model.optimizer
    else:
        for name in ("optimizer", "metrics", "weighted_metrics"):
            config.pop(name)
    edited.compile(**config)


def edited_model(model, edits, name, metrics=True):
    """A Functional model around `Intervened(model, edits)` with `model`'s
    inputs, compiled as `model` is."""
    inputs = model_inputs(model)
    outputs = Intervened(model, edits, name=f"{name}_edits")(inputs)
    edited = keras.Model(inputs, outputs, name=name)
    compile_like(edited, model, metrics)
    return edited


def intervene(model: keras.Model, edits: dict) -> keras.Model:
    """A model computing what `model` computes with some gates changed.

    The changes are made inside the recurrence, where each gate is
    computed: the rest of that step and every later step follow from the
    changed value (a forget unit held at 1 keeps its cell state; a cell or
    hidden unit set to a value is carried to the next step). The returned
    model shares every variable of `model` (training it trains `model`),
    is compiled as `model` is (same loss, metrics and optimizer object)
    when `model` is compiled, and runs in `predict`, `evaluate` and `fit`,
    under `jit_compile` and on JAX. `model` itself is unchanged.

    A value with a batch axis (activation patching) fits batches of that
    many sequences only: `predict(x, batch_size=len(x))`, or call the
    model on `x` directly.

    Args:
        model: a built Functional or Sequential Keras model with stock or
            keras-gates LSTM, GRU or SimpleRNN layers (also inside
            `Bidirectional` and nested models).
        edits: dict `"<layer>/<gate>"` -> `keras_gates.Set` or
            `keras_gates.Scale`, one edit per gate; layers as
            `keras_gates.gates` names them (`"bi/backward/forget"` for the
            backward half of a `Bidirectional` named `bi`). Steps and
            units index the gate arrays of `keras_gates.gates` (steps in
            processing order under `go_backwards`). Empty: the model as it
            is (a baseline that shares its compiled setup).

    Returns:
        A `keras.Model` with `model`'s inputs and outputs.

    Raises:
        ValueError: a key naming no recurrent layer or gate of it, units
            or steps out of range, a value whose shape does not fit.

    Example:

    >>> import keras, numpy as np, keras_gates
    >>> model = keras.Sequential([keras.Input((5, 3)),
    ...                           keras.layers.LSTM(4, name="lstm")])
    >>> held = keras_gates.intervene(
    ...     model, {"lstm/forget": keras_gates.Set(1.0, units=[2])})
    >>> tuple(held(np.ones((2, 5, 3), "float32")).shape)
    (2, 4)
    """
    owner = "intervene"
    check_model(model, owner)
    grouped = check_edits(model, edits, owner)
    return edited_model(model, grouped, f"{model.name}_edited")

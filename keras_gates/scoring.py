"""The model from an attribution's seed to its target's score.

`ScoreModel` is the Keras layer that tf-keras-vis differentiates: it runs
the whole model from the seed (the inputs, or the output of the model's
`Embedding` for token or text inputs) and gives the target's score per sequence,
with the target layer listened to (`keras_gates.listen`) for its gates and
the Grad-CAM features recorded. `Scorers` keeps the compiled ones of one
model, so that asking again (GateMonitor does, every epoch) reuses a trace.
"""

import contextlib

import keras
from keras import ops

from keras_gates.layers.kind import kind_of
from keras_gates.listen import Ear, listening, replaced_call
from keras_gates.vocabulary import run_until


def embedding_of(model):
    """The model's Embedding layer when its input is token ids or texts
    (which a vocabulary layer inside the model turns into token ids)."""
    (tensor,) = model.inputs
    dtype = str(tensor.dtype)
    if "int" not in dtype and dtype != "string":
        return None
    found = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.Embedding)
    ]
    if len(found) != 1:
        raise ValueError(
            f"attribution: model '{model.name}' takes {dtype} inputs; it "
            "needs exactly one Embedding layer to differentiate at, found "
            f"{[layer.name for layer in found]}."
        )
    return found[0]


def embedded(model, embedding, x):
    """The output of the model's `embedding` on model inputs `x` (token ids,
    or texts): its own call, on the ids it gets when the model runs (after
    any lookup or tokenizer), with no mask attached."""
    ran = run_until(model, embedding, x)
    ids = x if ran is None else ran[0]
    return embedding.call(ids)


class ScoreModel(keras.layers.Layer):
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

        super().__init__(name="scored")
        self.model = model
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_embedding", embedding)
        object.__setattr__(self, "_features", feature_layer)
        object.__setattr__(
            self, "_ear", Ear.of(target.layer_name, target.layer)
        )
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
            tokens = self._any_inputs(seed)
        run = self._compiled if tf.executing_eagerly() else self._body
        choice = ops.convert_to_tensor(self.choice, "int32")
        score, features, valid = run(seed, tokens, choice)
        self.valid = valid
        return score, features

    def _any_inputs(self, seed):
        """Model inputs for building the symbolic model (the embedding
        returns the seed): token ids of the seed's shape, or empty texts."""
        import tensorflow as tf

        tensor = self.model.inputs[0]
        if str(tensor.dtype) != "string":
            return ops.ones(ops.shape(seed)[:2], "int32")
        shape = tf.concat([tf.shape(seed)[:1], tensor.shape[1:]], 0)
        return tf.fill(shape, "")

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
                # call returns, and the seed must stay without one. With
                # the ids' batch size: a lookup of texts loses it, and the
                # mask made from the ids must fit the sequences.
                stack.enter_context(
                    replaced_call(
                        self._embedding,
                        lambda _: (
                            lambda ids: ops.copy(seed)[: ops.shape(ids)[0]]
                        ),
                    )
                )
            if self._features is not None:
                stack.enter_context(
                    replaced_call(self._features, recording("features"))
                )
            if target.kind == "gate":
                stack.enter_context(listening(self._ear, on_gates))
            # Outside the listener: it records the call the model makes.
            stack.enter_context(
                replaced_call(target.layer, recording("target"))
            )
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
            names = kind_of(target.layer).gate_names
            stacked = ops.stack([seen["gates"][name] for name in names])
            values = ops.take(ops.take(stacked, gate, axis=0), unit, axis=-1)
            if target.layer.go_backwards:  # gates come in processing order
                values = ops.flip(values, 1)
        else:
            values = ops.take(outputs, output, axis=-1)
        return (
            at_step(values, step, valid),
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


def at_step(values, step, valid):
    """(batch,) scores: `values` itself, or for a sequence (batch, time)
    its column `step`, or for `step` -1 its mean over the valid steps."""
    if len(values.shape) == 1:
        return values
    weights = ops.cast(valid, values.dtype)
    mean = ops.sum(values * weights, 1) / ops.maximum(ops.sum(weights, 1), 1)
    column = ops.take(values, ops.maximum(step, 0), axis=1)
    return ops.where(step >= 0, column, mean)


class Scorers:
    """The score models of one Keras model, made once per target layer (or
    the output), Grad-CAM features layer, seed shape and compilation; the
    gate, unit, output index and step are chosen at each call.

    Args:
        model: the Keras model explained.
    """

    def __init__(self, model):
        self.model = model
        self._made = {}

    def get(self, target, embedding, features, seed_shape, compiled):
        """`(ScoreModel, keras.Model from the seed to the score, the
        Grad-CAM features layer)` for `target`."""
        key = (
            target.kind,
            target.layer_name,
            None if features is None else features.name,
            tuple(seed_shape),
            compiled,
        )
        if key not in self._made:
            scored = ScoreModel(
                self.model, target, embedding, features, compiled
            )
            seed_tensor = keras.Input(seed_shape)
            score, feature_seq = scored(seed_tensor)
            # Grad-CAM's features, as a layer output tf-keras-vis can reach.
            named = keras.layers.Identity(name="gradcam_features")
            named(feature_seq)
            self._made[key] = (scored, keras.Model(seed_tensor, score), named)
        return self._made[key]

"""A text model's vocabulary: the layer inside it that turns its inputs into
the token ids its recurrent layers step over, and the text of each id.

Keras text models carry their vocabulary in a layer: `TextVectorization`,
`StringLookup` and `IntegerLookup` (with `output_mode="int"`), a KerasHub
tokenizer (`id_to_token`, `get_vocabulary`) or a KerasHub preprocessor (a
tokenizer inside, `token_ids` out). `Tokens(model)` finds that layer;
`Tokens.steps(x)` runs the model on `x` up to its first recurrent layer,
and no further, and gives the token id at each step (the vocabulary
layer's output: what the steps are, also for string inputs) and the mask
that layer sees. GateMonitor, `keras-gates explain` and attribution read
steps this way. A vocabulary the user gives (`texts_of`: a list or mapping
from id to text, a tokenizer, a lookup layer) overrides the model's.
"""

import contextlib
from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from keras_gates.listen import replaced_call
from keras_gates.lookup import recurrent_layers

LOOKUPS = (
    keras.layers.TextVectorization,
    keras.layers.StringLookup,
    keras.layers.IntegerLookup,
)


def is_tokenizer(obj):
    """Whether `obj` maps ids to texts as KerasHub tokenizers do."""
    return callable(getattr(obj, "id_to_token", None)) and callable(
        getattr(obj, "get_vocabulary", None)
    )


def makes_ids(layer):
    """Whether `layer` turns its inputs into token ids by a vocabulary: a
    Keras lookup layer with `output_mode="int"`, a KerasHub tokenizer, or a
    layer holding one as `tokenizer` (a KerasHub preprocessor)."""
    if isinstance(layer, LOOKUPS):
        return layer.get_config().get("output_mode", "int") == "int"
    if not isinstance(layer, keras.layers.Layer):
        return False
    return is_tokenizer(layer) or is_tokenizer(
        getattr(layer, "tokenizer", None)
    )


def texts_of(vocabulary, owner="keras-gates"):
    """Token texts by id from what holds them.

    Args:
        vocabulary: None, a sequence or mapping from id to text, a NumPy
            array of texts, a Keras lookup layer or `TextVectorization`, a
            KerasHub tokenizer, or a layer holding one as `tokenizer`.
        owner: who asks, named in errors.

    Returns:
        None, a list of str, or a dict from int id to str.

    Raises:
        TypeError: `vocabulary` is none of these.
    """
    if vocabulary is None:
        return None
    if not is_tokenizer(vocabulary) and is_tokenizer(
        getattr(vocabulary, "tokenizer", None)
    ):
        vocabulary = vocabulary.tokenizer
    if isinstance(vocabulary, LOOKUPS) or is_tokenizer(vocabulary):
        vocabulary = vocabulary.get_vocabulary()
    if isinstance(vocabulary, Mapping):
        return {int(k): _text(v) for k, v in vocabulary.items()}
    if isinstance(vocabulary, (Sequence, np.ndarray)):
        return [_text(v) for v in vocabulary]
    raise TypeError(
        f"{owner}: `vocabulary` must be a sequence or mapping from token id "
        "to text, a KerasHub tokenizer or a Keras lookup layer "
        f"(TextVectorization, StringLookup, IntegerLookup), got "
        f"{type(vocabulary).__name__}."
    )


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def vocabulary_layer(model):
    """The one layer of `model` that makes token ids (see `makes_ids`), or
    None when it has none or several (then pass `vocabulary=`). A
    tokenizer inside a preprocessor counts as the preprocessor."""
    found = [layer for layer in model._flatten_layers() if makes_ids(layer)]
    inner = {
        id(sub)
        for layer in found
        for sub in layer._flatten_layers(include_self=False)
    }
    found = [layer for layer in found if id(layer) not in inner]
    return found[0] if len(found) == 1 else None


class _Reached(Exception):
    """Stops a model's call at the layer `run_until` waits for."""


def run_until(model, layer, x, heard=()):
    """Call `model(x)` until it calls `layer`, and stop there.

    Nothing after the call of `layer` runs (the states of stateful layers
    do not move); `layer` itself does not run.

    Args:
        model: a Keras model.
        layer: a layer of `model`.
        x: model inputs.
        heard: other layers whose outputs (of their last call before
            `layer`'s) to record.

    Returns:
        `(inputs, kwargs, outputs)`: the first argument and keyword
        arguments of the call of `layer`, and a list of the outputs of
        `heard` (None for a layer not called); None when `layer` was not
        called.
    """
    seen, outputs = {}, [None] * len(heard)

    def stop(original):
        def call(inputs, *args, **kwargs):
            seen["call"] = (inputs, kwargs)
            raise _Reached

        return call

    def record(index):
        def make(original):
            def call(*args, **kwargs):
                outputs[index] = original(*args, **kwargs)
                return outputs[index]

            return call

        return make

    with contextlib.ExitStack() as stack:
        stack.enter_context(replaced_call(layer, stop))
        for index, other in enumerate(heard):
            stack.enter_context(replaced_call(other, record(index)))
        try:
            model(x, training=False)
        except _Reached:
            pass
    if "call" not in seen:
        return None
    inputs, kwargs = seen["call"]
    return inputs, kwargs, outputs


def token_ids(output):
    """The token ids (batch, time) in a vocabulary layer's output (a
    KerasHub preprocessor's `token_ids`)."""
    if isinstance(output, (list, tuple)):
        output = output[0]
    if isinstance(output, dict):
        output = output["token_ids"]
    return output


class Tokens:
    """The token ids and texts along the steps of a model.

    Args:
        model: a built Keras model.
        vocabulary: token texts by id that override the model's own (see
            `texts_of`), or None.

    Attributes:
        layer: the model's vocabulary layer (`vocabulary_layer`), or None.
        texts: the texts by id (a list or dict), or None: ids are shown as
            numbers.
    """

    def __init__(self, model, vocabulary=None):
        self.model = model
        self.layer = vocabulary_layer(model)
        source = self.layer if vocabulary is None else vocabulary
        self.texts = texts_of(source)
        found = list(recurrent_layers(model))
        self._first = found[0][1] if found else None

    def steps(self, x):
        """`(ids, valid)` of model inputs `x`, as NumPy arrays.

        `ids`: the vocabulary layer's output (batch, time), or, without
        one, the model's first input as it is. `valid`: bool (batch, time),
        False at the steps the first recurrent layer's mask leaves out, or
        None when it gets no mask. Only the model's part before its first
        recurrent layer runs.
        """
        heard = () if self.layer is None else (self.layer,)
        ran = None
        if self._first is not None:
            ran = run_until(self.model, self._first, x, heard)
        ids = np.asarray(keras.tree.flatten(x)[0])
        if ran is not None and self.layer is not None:
            (output,) = ran[2]
            if output is not None:
                ids = ops.convert_to_numpy(token_ids(output))
        mask = None if ran is None else ran[1].get("mask")
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        valid = None
        if mask is not None:
            valid = ops.convert_to_numpy(mask).astype(bool)
            valid = valid.reshape(valid.shape[:2])
        return ids, valid

"""Listening to recurrent layers while a model runs: one mechanism.

`replaced_call(obj, make_call)` is the one way keras-gates changes what a
layer (or a model) does: for the length of a `with` block, `obj.call` is
`make_call(original call)`, and it is put back however the block ends.
Everything else is built on it:

- `listening(ear)`: a recurrent layer's calls run its time loop with its
  gates (and any edits) and hand them to a function. A keras-gates layer
  runs its own loop; a stock layer's call is replaced by a keras-gates
  `twin` that computes the same outputs from the stock layer's very
  variables (weights, dropout seed, stateful states), so that the gates
  and any edits come from the call the model actually makes.
- `run_listening(model, ears, x)`: call a model with several layers
  listened to; the probe, `GatesOf`, `intervene` and attribution use it,
  GateMonitor keeps listeners open for a whole fit.
"""

import contextlib
import dataclasses

from keras_gates.layers.base import GatedRNN, keep_states
from keras_gates.layers.kind import kind_of


@contextlib.contextmanager
def replaced_call(obj, make_call):
    """Within the block, `obj.call` is `make_call(the original call)`."""
    previous = obj.__dict__.get("call")
    obj.call = make_call(obj.call)
    try:
        yield
    finally:
        if previous is None:
            del obj.call
        else:
            obj.call = previous


def twin_config(layer):
    """The config of a keras-gates layer computing what `layer` computes.

    A stock LSTM/GRU/SimpleRNN's config is already one; a plain
    `keras.layers.RNN` around a cell has its cell's arguments merged in.
    """
    config = layer.get_config()
    if config.pop("cell", None) is not None:
        cell = layer.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell.pop(key, None)
        config.update(cell)
    return config


def twin_of(layer):
    """A keras-gates layer computing what a stock recurrent layer computes,
    reading the stock cell's own weights and dropout seed (no copies);
    None for a keras-gates layer, which runs its own loop.

    Make it outside any compiled function (it is a new layer).
    """
    if isinstance(layer, GatedRNN):
        return None
    config = {
        **twin_config(layer),
        "return_gates": False,
        "stateful": False,
        "name": f"{layer.name}_gates",
    }
    twin = kind_of(layer).layer_class.from_config(config)
    for name in ("kernel", "recurrent_kernel", "bias", "seed_generator"):
        # Plain attributes: the twin must not track them as its own.
        object.__setattr__(twin.cell, name, getattr(layer.cell, name))
    twin.cell.built = twin.built = True
    return twin


def _always(training):
    return True


@dataclasses.dataclass
class Ear:
    """One recurrent layer to listen to.

    Attributes:
        name: its name as `keras_gates.gates` gives it.
        layer: the layer.
        twin: `twin_of(layer)`.
        edits: dict gate name -> `Set`/`Scale` applied inside its loop.
    """

    name: str
    layer: object
    twin: object = None
    edits: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, name, layer, edits=None):
        return cls(name, layer, twin_of(layer), dict(edits or {}))

    @property
    def kind(self):
        return kind_of(self.layer)


def listening(ear, on_gates=None, wants=_always, rows=None, gradient=True):
    """Within the block, every call of `ear.layer` runs its loop (or its
    twin's) with `ear.edits`, and, when `wants(training)`, hands its gates
    to `on_gates(gates, valid, training)`.

    `gates` are (batch, time, units) per gate and `valid` bool (batch,
    time), False at masked steps, both in the order the layer processed
    the steps. With `rows`, only the gates of the first `rows` sequences,
    without a gradient, taken inside the loop. The layer's outputs and
    states are what its own call gives; a call neither wanted nor edited
    is the layer's own.
    """
    layer, runner = ear.layer, ear.twin or ear.layer
    # A keras-gates layer that returns its gates anyway returns all of them.
    own = ear.twin is None and layer.return_gates

    def make(original):
        def call(sequences, initial_state=None, mask=None, training=False):
            heard = on_gates is not None and wants(training)
            if not heard and not ear.edits:
                return original(
                    sequences,
                    initial_state=initial_state,
                    mask=mask,
                    training=training,
                )
            if initial_state is None and layer.stateful:
                initial_state = list(layer.states)
            ran = runner.run(
                sequences,
                initial_state,
                mask,
                training,
                gates=heard or own,
                rows=None if own else rows,
                edits=ear.edits,
                gradient=gradient,
            )
            keep_states(layer, ran.states)
            if heard:
                gates, valid = ran.gates, ran.valid
                if rows is not None:
                    gates = {k: v[:rows] for k, v in gates.items()}
                    valid = valid[:rows]
                on_gates(gates, valid, training)
            return runner.result(ran, own)

        return call

    return replaced_call(layer, make)


def run_listening(model, ears, x, training=False, reduce=None, gradient=True):
    """Call `model(x)` with the layers of `ears` listened to.

    Returns `(outputs, {name: record})`: a record is `(gates, valid)` (see
    `listening`) or what `reduce(name, layer, gates, valid)` makes of them.
    `gradient=False`: nothing of it will be differentiated (a probe).
    """
    records = {}
    with contextlib.ExitStack() as stack:
        for ear in ears:

            def record(gates, valid, training, ear=ear):
                records[ear.name] = (
                    (gates, valid)
                    if reduce is None
                    else reduce(ear.name, ear.layer, gates, valid)
                )

            stack.enter_context(listening(ear, record, gradient=gradient))
        outputs = model(x, training=training)
    return outputs, records

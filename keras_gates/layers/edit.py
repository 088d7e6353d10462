"""Changes made to a gate inside the time loop: `Set`, `Scale` and `Switch`.

An edit names which units and steps of one gate it changes and how; the
layer's loop applies it at each step right where the gate is computed, so
the rest of that step and every later step follow from the changed value
(a forget unit held at 1 keeps its cell state; a state set to a value is
carried on). Steps count in the order the layer processes them (reversed
under `go_backwards`), as the gates of `keras_gates.gates` do.
"""

import numbers

import keras
import numpy as np
from keras import ops

from keras_gates.layers.cell import keep


class GateEdit:
    """Base class of `Set` and `Scale` (not used directly).

    Args:
        value: a number, or an array broadcastable to
            (batch, len(steps), len(units)) (all steps / all units when
            `steps` / `units` is None).
        units: list of unit indices, or None for every unit.
        steps: list of step indices, or None for every step.
    """

    def __init__(
        self,
        value,
        units: int | list[int] | None = None,
        steps: int | list[int] | None = None,
    ):
        name = type(self).__name__
        self.units = _indices(units, name, "units")
        self.steps = _indices(steps, name, "steps")
        try:
            array = np.asarray(value, "float32")
        except (TypeError, ValueError):
            raise TypeError(
                f"{name}: `value` must be a number or an array of numbers, "
                f"got {type(value).__name__}."
            ) from None
        if array.ndim > 3:
            raise ValueError(
                f"{name}: `value` must broadcast to (batch, steps, units); "
                f"got an array of shape {array.shape}."
            )
        self.value = array.reshape((1,) * (3 - array.ndim) + array.shape)
        self._check_axis(1, self.steps, "steps")
        self._check_axis(2, self.units, "units")

    def _check_axis(self, axis, chosen, what):
        size = self.value.shape[axis]
        if chosen is not None and size not in (1, len(chosen)):
            raise ValueError(
                f"{type(self).__name__}: `value` has {size} {what} on axis "
                f"{axis}, but {len(chosen)} {what} are chosen; expected 1 or "
                f"{len(chosen)}."
            )

    def new_values(self, current, value):
        """The gate's values where the edit applies."""
        raise NotImplementedError

    def __repr__(self):
        value = self.value
        shown = float(value.ravel()[0]) if value.size == 1 else value.shape
        return (
            f"{type(self).__name__}({shown}, units={self.units}, "
            f"steps={self.steps})"
        )

    def tensors(self, time, units, dtype):
        """The edit for a layer run: `(where, value)`, time-major.

        `where` is bool (time, 1, units), True at the edited steps and
        units; `value` is (time, batch or 1, units). `time` may be a
        tensor (a dynamic number of steps).
        """
        value = ops.convert_to_tensor(self.value, dtype)
        active_t, at_t = _positions(self.steps, time, self.value.shape[1])
        active_u, at_u = _positions(self.units, units, self.value.shape[2])
        value = ops.take(ops.take(value, at_t, axis=1), at_u, axis=2)
        where = ops.logical_and(
            ops.reshape(active_t, (-1, 1, 1)), ops.reshape(active_u, (1, 1, -1))
        )
        return where, ops.transpose(value, (1, 0, 2))


def step_edit(edits, x_t):
    """The `edit(name, value)` of one step: each edited gate takes its new
    values where the step's slice of the edit says so."""
    if not edits:
        return keep

    def edit(name, value):
        change = edits.get(name)
        if change is None:
            return value
        new = change.new_values(
            value, ops.cast(x_t[f"{name}/value"], value.dtype)
        )
        return ops.where(x_t[f"{name}/where"], new, value)

    return edit


class Set(GateEdit):
    """Replace a gate's values: `gate = value` at the chosen units and steps.

    Example: `keras_gates.Set(1.0, units=[18])` holds forget unit 18 open.
    """

    def new_values(self, current, value):
        return ops.broadcast_to(value, ops.shape(current))


class Scale(GateEdit):
    """Multiply a gate's values: `gate = gate * value` at the chosen units
    and steps. `Scale(1.0)` changes nothing."""

    def new_values(self, current, value):
        return current * value


class Switch(Set):
    """`Set` held in two variables: which units are set, and to what.

    A compiled function that runs a layer with a `Switch` reads the
    variables at each run, so that `choose` (between runs) ablates another
    unit without a new trace: `keras_gates.ablate` and GateMonitor's
    importance run one compiled function for every unit this way. Nothing
    is set until `choose` is called. Every step is edited.

    Args:
        count: the number of units of the gate.
        name: the prefix of the variables' names.
    """

    def __init__(self, count, name="switch"):
        self.units = self.steps = None
        self.value = np.zeros((1, 1, 1), "float32")
        self.count = int(count)
        self.on, self.to = (
            keras.Variable(
                np.zeros(self.count, "float32"),
                trainable=False,
                name=f"{name}_{what}",
            )
            for what in ("on", "to")
        )

    @property
    def variables(self):
        """The two variables, to be tracked by the model that runs it."""
        return [self.on, self.to]

    def choose(self, units=(), values=0.0):
        """Set `units` (a list of indices) to `values` (a number or one
        per unit) from now on; no units: change nothing."""
        on = np.zeros(self.count, "float32")
        to = np.zeros(self.count, "float32")
        units = list(units)
        on[units] = 1.0
        to[units] = values
        self.on.assign(on)
        self.to.assign(to)

    def tensors(self, time, units, dtype):
        blank = ops.zeros((time, 1, 1), dtype)
        where = ops.greater(blank + ops.cast(self.on, dtype), 0.5)
        return where, blank + ops.cast(self.to, dtype)

    def __repr__(self):
        return f"Switch({self.count} units)"


def _indices(chosen, owner, what):
    """`chosen` as a tuple of non-negative ints (None stays None)."""
    if chosen is None:
        return None
    listed = [chosen] if isinstance(chosen, numbers.Integral) else chosen
    try:
        listed = list(listed)
    except TypeError:
        listed = None
    if not listed or not all(
        isinstance(i, numbers.Integral) and not isinstance(i, bool) and i >= 0
        for i in listed
    ):
        raise ValueError(
            f"{owner}: `{what}` must be None or a non-empty list of indices "
            f">= 0, got {chosen!r}."
        )
    return tuple(int(i) for i in listed)


def _positions(chosen, size, given):
    """For each index of an axis of `size`: whether it is chosen, and the
    index into the value's axis of `given` entries (1: broadcast)."""
    index = ops.arange(size)
    if chosen is None:
        active = ops.ones_like(index, "bool")
        at = index if given > 1 else ops.zeros_like(index)
        return active, at
    hits = ops.equal(
        ops.expand_dims(index, 1),
        ops.convert_to_tensor(np.asarray(chosen, "int32"))[None, :],
    )
    active = ops.any(hits, axis=1)
    at = ops.argmax(ops.cast(hits, "int32"), axis=1) if given > 1 else None
    return active, ops.zeros_like(index) if at is None else at

"""The checks of GateMonitor's arguments: a clear ValueError (or TypeError)
naming the argument and what it takes, raised at construction."""

import keras


def positive(name, value):
    """`value` if it is a positive int."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"GateMonitor: `{name}` must be a positive int, got {value!r}."
        )
    return value


def flag(name, value):
    """`value` if it is a bool."""
    if not isinstance(value, bool):
        raise ValueError(
            f"GateMonitor: `{name}` must be a bool, got {value!r}."
        )
    return value


def thresholds(left, right):
    """`(left, right)` if 0 <= left < right <= 1."""
    if not 0.0 <= left < right <= 1.0:
        raise ValueError(
            "GateMonitor: need 0 <= left < right <= 1, got "
            f"left={left!r}, right={right!r}."
        )
    return left, right


def tensorflow_only(name, value):
    """`value`, unless it is set (truthy) on a backend other than
    TensorFlow."""
    backend = keras.backend.backend()
    if value and backend != "tensorflow":
        raise ValueError(
            f"GateMonitor: `{name}` needs the TensorFlow backend (active: "
            f"{backend!r}); the probe statistics work on every backend."
        )
    return value


def vocabulary(value):
    """`value` if it is None or indexable by token id."""
    if value is not None and not hasattr(value, "__getitem__"):
        raise TypeError(
            "GateMonitor: `vocabulary` must be a sequence or mapping from "
            f"token id to text, got {type(value).__name__}."
        )
    return value


def step_window(steps):
    """`steps` as a `(start, stop)` tuple (None stays None)."""
    if steps is None:
        return None
    fine = (
        isinstance(steps, (tuple, list))
        and len(steps) == 2
        and all(isinstance(v, int) for v in steps)
        and 0 <= steps[0] < steps[1]
    )
    if not fine:
        raise ValueError(
            "GateMonitor: `steps` must be (start, stop) with "
            f"0 <= start < stop, got {steps!r}."
        )
    return tuple(steps)


def attribution_method(method):
    """`method` if it is None or a `keras_gates.attribution` method."""
    from keras_gates.attribution import METHODS

    if method is not None and method not in METHODS:
        raise ValueError(
            f"GateMonitor: `attribution` must be None or one of {METHODS}, "
            f"got {method!r}."
        )
    return tensorflow_only("attribution", method)

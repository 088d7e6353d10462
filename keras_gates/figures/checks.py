"""The figures' arguments checked: sizes, and gate openness values."""

import numpy as np


def check_sizes(d_x, d_h):
    """(d_x, d_h) as ints, each a positive int (NumPy ints too)."""
    for name, value in (("d_x", d_x), ("d_h", d_h)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(
                f"keras_gates.figures: `{name}` must be an int, got "
                f"{type(value).__name__} {value!r}."
            )
        if value < 1:
            raise ValueError(
                f"keras_gates.figures: `{name}` must be positive, got {value}."
            )
    return int(d_x), int(d_h)


def check_openness(openness, allowed, argument):
    """A validated copy of `openness` ({sigmoid gate name: value in [0, 1]})."""
    if openness is None:
        return {}
    if not isinstance(openness, dict):
        raise TypeError(
            f"keras_gates.figures: `{argument}` must be a dict gate name -> "
            f"mean value, got {type(openness).__name__}."
        )
    unknown = sorted(set(openness) - set(allowed))
    if unknown:
        raise ValueError(
            f"keras_gates.figures: `{argument}` names {unknown}, which are "
            f"not sigmoid gates here; expected some of {list(allowed)}."
        )
    checked = {}
    for name, value in openness.items():
        if not isinstance(value, (int, float, np.number)) or not (
            0.0 <= value <= 1.0
        ):
            raise ValueError(
                f"keras_gates.figures: `{argument}['{name}']` must be a "
                f"number in [0, 1], got {value!r}."
            )
        checked[name] = float(value)
    return checked

"""GateMonitor's settings: one frozen object, checked once, read by every
stage (the probe, the statistics, the writers).

Bad arguments are a ValueError (or TypeError) naming the argument and what
it takes, raised when the monitor is made, before any training time is
spent.
"""

import dataclasses
import numbers
import os

import keras

from keras_gates.attribution import METHODS
from keras_gates.discovery import as_marks
from keras_gates.vocabulary import texts_of

# The unit ablations per logged epoch of `importance=True`.
IMPORTANCE_UNITS = 256


@dataclasses.dataclass(frozen=True)
class Settings:
    """What GateMonitor was asked to do (see its arguments)."""

    log_dir: str = "logs"
    freq: int = 1
    max_probe: int = 256
    probe_values: int = 2**18
    left: float = 0.1
    right: float = 0.9
    always: float = 0.99
    heatmap_index: int = 0
    layers: tuple | None = None
    track_training: bool = False
    bins: int = 30
    cell_range: float = 3.0
    track_rows: int = 16
    figures: bool = False
    dashboard: bool = True
    dashboard_sequences: int = 4
    dashboard_bytes: int = 2**20
    vocabulary: object = None
    steps: tuple | None = None
    attribution: str | None = None
    attribution_units: int = 1
    attribution_share: float | None = 0.05
    annotations: dict | None = dataclasses.field(default=None, compare=False)
    importance: bool | int = False

    def __post_init__(self):
        for name in (
            "freq",
            "max_probe",
            "probe_values",
            "bins",
            "track_rows",
            "dashboard_sequences",
            "dashboard_bytes",
            "attribution_units",
        ):
            _positive(name, getattr(self, name))
        for name in ("track_training", "figures", "dashboard"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"GateMonitor: `{name}` must be a bool, got "
                    f"{getattr(self, name)!r}."
                )
        if not 0.0 <= self.left < self.right <= 1.0:
            raise ValueError(
                "GateMonitor: need 0 <= left < right <= 1, got "
                f"left={self.left!r}, right={self.right!r}."
            )
        if not 0.0 < self.always <= 1.0:
            raise ValueError(
                f"GateMonitor: `always` must be in (0, 1], got {self.always!r}."
            )
        if not isinstance(self.heatmap_index, int) or self.heatmap_index < 0:
            raise ValueError(
                "GateMonitor: `heatmap_index` must be an int >= 0, got "
                f"{self.heatmap_index!r}."
            )
        if not isinstance(self.cell_range, numbers.Real) or not (
            self.cell_range > 0
        ):
            raise ValueError(
                "GateMonitor: `cell_range` must be a positive number, got "
                f"{self.cell_range!r}."
            )
        vocabulary = self.vocabulary
        if vocabulary is not None and not hasattr(vocabulary, "__getitem__"):
            raise TypeError(
                "GateMonitor: `vocabulary` must be a sequence or mapping "
                "from token id to text, got "
                f"{type(vocabulary).__name__}."
            )
        _window(self.steps)
        if self.attribution is not None and self.attribution not in METHODS:
            raise ValueError(
                "GateMonitor: `attribution` must be None or one of "
                f"{METHODS}, got {self.attribution!r}."
            )
        share = self.attribution_share
        if share is not None and not (
            isinstance(share, numbers.Real)
            and not isinstance(share, bool)
            and 0 < share <= 1
        ):
            raise ValueError(
                "GateMonitor: `attribution_share` must be None or a number "
                f"in (0, 1], got {share!r}."
            )
        for name in ("track_training", "attribution"):
            _tensorflow_only(name, getattr(self, name))
        _annotations(self.annotations)
        importance = self.importance
        if not isinstance(importance, bool):
            _positive("importance", importance, "True, False or ")

    @property
    def importance_units(self):
        """How many units' importance to measure per logged epoch (0:
        none)."""
        if isinstance(self.importance, bool):
            return IMPORTANCE_UNITS if self.importance else 0
        return self.importance

    @classmethod
    def of(
        cls,
        log_dir,
        layers=None,
        steps=None,
        vocabulary=None,
        annotations=None,
        **kwargs,
    ):
        """The settings of GateMonitor's arguments (normalized, checked):
        a tokenizer or lookup layer given as `vocabulary` becomes its
        texts."""
        if layers is not None:
            layers = (layers,) if isinstance(layers, str) else tuple(layers)
        return cls(
            log_dir=os.fspath(log_dir),
            layers=layers,
            steps=_window(steps),
            vocabulary=texts_of(vocabulary, "GateMonitor"),
            annotations=_annotations(annotations),
            **kwargs,
        )

    @property
    def thresholds(self):
        """`(left, right)`, the saturation thresholds."""
        return self.left, self.right

    def window(self, length, go_backwards=False):
        """The slice of the steps the heatmaps and the dashboard show, of a
        sequence of `length` steps: in input order, or in the order a
        layer ran them with `go_backwards`."""
        if self.steps is None:
            return slice(0, length)
        start, stop, _ = slice(*self.steps).indices(length)
        if go_backwards:
            start, stop = length - stop, length - start
        return slice(start, stop)


def _positive(name, value, other=""):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"GateMonitor: `{name}` must be {other}a positive int, got "
            f"{value!r}."
        )


def _window(steps):
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


def _tensorflow_only(name, value):
    backend = keras.backend.backend()
    if value and backend != "tensorflow":
        raise ValueError(
            f"GateMonitor: `{name}` needs the TensorFlow backend (active: "
            f"{backend!r}); the probe statistics work on every backend."
        )


def _annotations(annotations):
    """`annotations` as a dict name -> function or 2-D bool array (None
    stays None)."""
    if annotations is None:
        return None
    if not isinstance(annotations, dict) or not annotations:
        raise ValueError(
            "GateMonitor: `annotations` must be a non-empty dict name -> "
            "bool array (sequences, time) aligned with probe_data, or a "
            f"function of the probe inputs; got {annotations!r}."
        )
    checked = {}
    for name, source in annotations.items():
        if not isinstance(name, str) or not name:
            raise ValueError(
                "GateMonitor: `annotations` must be named by non-empty "
                f"strings, got {name!r}."
            )
        if not callable(source):
            source = as_marks(source, f"`annotations[{name!r}]`", "GateMonitor")
        checked[name] = source
    return checked

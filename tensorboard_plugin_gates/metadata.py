"""The summary format of the Gates dashboard, version 1.

Every summary is a tensor summary owned by the plugin `gates`
(`plugin_data.plugin_name`, `data_class` TENSOR), so any TensorBoard data
provider serves it. Tags, with `<layer>` the layer name as GateMonitor
names it (`<name>/forward|backward` for Bidirectional halves):

| tag | dtype, shape | written |
|---|---|---|
| `<layer>/_gates/layer` | string, () JSON: kind, sizes, gates | once |
| `<layer>/_gates/sequences` | uint16, (gates, S, T', units) | per epoch |
| `<layer>/_gates/scale` | float32, (gates, 2): low, high | per epoch |
| `<layer>/_gates/valid` | uint8, (S, T'): 0 at masked steps | per epoch |
| `<layer>/_gates/stats` | float64, (gates, 3): mean, left, right | per epoch |
| `<layer>/_gates/saturation` | float32, (sigmoid gates, 2, units) | per epoch |
| `<layer>/_gates/histograms` | uint32, (gates, units, BINS) | per epoch |
| `_gates/tokens` | string, () JSON: tokens of the sequences | on change |
| `<layer>/_gates/attribution` | string, () JSON: method, targets | per epoch |
| `_gates/output_attribution` | string, () JSON: output, values | per epoch |
| `<layer>/_gates/importance` | string, () JSON: measure, values | per epoch |
| `<layer>/_gates/matches` | string, () JSON: annotations, auc | per epoch |

`sequences` holds every gate of the first S probe sequences in input order
(a backward layer's steps are flipped back so that they line up with the
input), each gate quantized on its own [low, high] of `scale`: code
`q <= CODE_MAX` stands for `low + q * (high - low) / CODE_MAX`, so a value
read back lies within `(high - low) / (2 * CODE_MAX)` of the gate (1/256
for any range up to 512 wide); `NONFINITE` marks NaN and infinities.
`stats` holds, per gate, the mean over the valid steps of all probe
sequences and for sigmoid gates the fractions below `left` and above
`right` (NaN otherwise); `saturation` the same fractions per unit;
`histograms` per unit the counts of its values in `BINS` equal bins over
the gate's [low, high]. The two attribution tags (only with
`GateMonitor(attribution=...)`) hold, per stored sequence and input step,
how much the step moves a saturated gate unit (`targets`: gate, unit,
values) or the model output (see `keras_gates.summary.attribution_log`).
`importance` (with `GateMonitor(importance=True)`) holds, per gate and
unit, how much the model's loss (`measure` "loss") or outputs ("output")
change when the unit is mean-ablated, null where not measured; `matches`
(with `GateMonitor(annotations=...)`) the ROC AUC of each unit's values at
the steps an annotation marks against the other valid steps, per
annotation, gate and unit (null where undefined).

Each summary's `plugin_data.content` is JSON `{"version": 1, "kind": K}`;
`parse_plugin_content` reads it back and refuses a version newer than
`VERSION`, so that the dashboard never misreads a later format.
"""

import json

import numpy as np
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "gates"
VERSION = 1
TAG_DIR = "_gates"
TOKENS_TAG = f"{TAG_DIR}/tokens"
LAYER_KINDS = (
    "layer",
    "sequences",
    "scale",
    "valid",
    "stats",
    "saturation",
    "histograms",
    "attribution",
    "importance",
    "matches",
)
OUTPUT_ATTRIBUTION_TAG = f"{TAG_DIR}/output_attribution"
CODE_MAX = 65534
NONFINITE = 65535
BINS = 20


def tag(layer, kind):
    """The tag of one kind of data of one layer."""
    return f"{layer}/{TAG_DIR}/{kind}"


def parse_tag(name):
    """`(layer, kind)` for a layer tag of this format, else None."""
    layer, sep, kind = name.rpartition(f"/{TAG_DIR}/")
    if not sep or kind not in LAYER_KINDS:
        return None
    return layer, kind


def create_summary_metadata(kind, description=None):
    """A `SummaryMetadata` for one of the plugin's tensors."""
    content = json.dumps({"version": VERSION, "kind": kind}).encode()
    return summary_pb2.SummaryMetadata(
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


class FormatError(ValueError):
    """Plugin data this version of the dashboard cannot read."""


def parse_plugin_content(content: bytes) -> dict:
    """The `{"version", "kind"}` of a summary's `plugin_data.content`.

    Args:
        content: the bytes `create_summary_metadata` wrote.

    Returns:
        A dict with at least `version` (an int from 1 to `VERSION`) and
        `kind` (a str).

    Raises:
        TypeError: if `content` is not bytes.
        FormatError: if `content` is not such JSON, or was written in a
            newer format than `VERSION`.
    """
    if not isinstance(content, bytes):
        raise TypeError(
            f"`content` must be bytes, got {type(content).__name__}"
        )
    shown = repr(content if len(content) <= 60 else content[:60] + b"...")
    try:
        parsed = json.loads(content)
    except ValueError:  # not UTF-8 or not JSON
        parsed = None
    version = parsed.get("version") if isinstance(parsed, dict) else None
    if (
        type(version) is not int
        or version < 1
        or not isinstance(parsed.get("kind"), str)
    ):
        raise FormatError(
            "not Gates plugin data: expected JSON like "
            f'{{"version": {VERSION}, "kind": "layer"}}, got {shown}'
        )
    if version > VERSION:
        raise FormatError(
            f"written by a newer keras-gates (Gates format version "
            f"{version}); this dashboard reads version {VERSION}: upgrade "
            "keras-gates"
        )
    return parsed


def value_range(low, high, sigmoid, xp=np):
    """The [low, high] a gate is binned and quantized on: the one rule.

    From the smallest and largest finite value a gate takes (or the bounds
    it lives in, when binning before seeing it): sigmoid gates on [0, 1],
    wider if the values leave it; other values symmetric around 0, as wide
    as the largest magnitude (at least 1e-6). Works on NumPy arrays and,
    with `xp=keras.ops`, on tensors inside a compiled function.
    """
    top = xp.maximum(xp.maximum(-low, high), 1e-6)
    return (
        xp.where(sigmoid, xp.minimum(low, 0.0), -top),
        xp.where(sigmoid, xp.maximum(high, 1.0), top),
    )


def quantize(values, low, high):
    """Values as uint16 codes on [low, high]; non-finite -> `NONFINITE`."""
    values = np.asarray(values, np.float64)
    scaled = (values - low) * (CODE_MAX / (high - low))
    codes = np.rint(np.clip(np.nan_to_num(scaled), 0, CODE_MAX))
    codes = codes.astype(np.uint16)
    codes[~np.isfinite(values)] = NONFINITE
    return codes


def dequantize(codes, low, high):
    """The values back from `quantize` (float32, NaN where non-finite)."""
    codes = np.asarray(codes)
    values = low + codes.astype(np.float64) * ((high - low) / CODE_MAX)
    values[codes == NONFINITE] = np.nan
    return values.astype(np.float32)

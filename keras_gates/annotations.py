"""Annotations made from the data: bool arrays marking the steps to match
units against (`keras_gates.match_units`, `GateMonitor(annotations=...)`).

On token ids, read through a vocabulary (a sequence or mapping from id to
text, as the dashboard reads it): a regular expression over the text,
inside a bracket or quote pair, depth of nesting, position in the line,
indentation, token in a set. On time series (batch, time) or (batch, time,
features): above or below a threshold, rising or falling.

Every function takes arrays of any shape whose last axis is time (one
sequence, or a batch of them, each read on its own) and returns a bool
array of the same shape (without the feature axis). Token ids may also be
given as their texts (a str array), without a vocabulary.

>>> import keras_gates.annotations as notes
>>> ids = [[0, 1, 2, 3, 4]]  # a ( b ) c
>>> notes.inside(ids, ["a", "(", "b", ")", "c"], ("(", ")")).astype(int)
array([[0, 0, 1, 0, 0]])
"""

import re

import numpy as np

from tensorboard_plugin_gates.writer import token_text


def token_texts(ids, vocabulary=None) -> np.ndarray:
    """The text of every token: `vocabulary[id]` (as the dashboard shows
    it, `#id` for an id the vocabulary lacks), the id itself without a
    vocabulary; str arrays are texts already. Returns an object array of
    the same shape."""
    array = np.asarray(ids)
    if array.ndim < 1:
        raise ValueError(
            f"annotations: expected token ids (..., time), got {array!r}."
        )
    if array.dtype.kind in "USO":
        return array.astype(str).astype(object)
    if array.dtype.kind not in "iub":
        raise ValueError(
            "annotations: expected integer token ids or token texts, got "
            f"{array.dtype} values."
        )
    unique, where = np.unique(array, return_inverse=True)
    texts = [token_text(int(i), vocabulary) for i in unique]
    return np.array(texts, dtype=object)[where.reshape(array.shape)]


def _rows(texts):
    """`texts` as (rows, time), with the shape to give back."""
    return texts.reshape(-1, texts.shape[-1]), texts.shape


def token_in(ids, vocabulary, tokens) -> np.ndarray:
    """Steps whose token's text is one of `tokens`."""
    texts = token_texts(ids, vocabulary)
    wanted = {str(t) for t in tokens}
    return np.isin(texts.astype(str), list(wanted))


def regex(ids, vocabulary, pattern: str, join: str = "") -> np.ndarray:
    """Steps whose token overlaps a match of the regular expression
    `pattern` in the text of its sequence: the token texts joined with
    `join` ("" for characters, " " for words)."""
    compiled = re.compile(pattern)
    rows, shape = _rows(token_texts(ids, vocabulary))
    marked = np.zeros(rows.shape, bool)
    for r, row in enumerate(rows):
        starts = np.cumsum([0] + [len(t) + len(join) for t in row[:-1]])
        ends = starts + [len(t) for t in row]
        for match in compiled.finditer(join.join(row)):
            if match.end() > match.start():
                marked[r] |= (starts < match.end()) & (ends > match.start())
    return marked.reshape(shape)


def _pairs(pairs, what):
    """`pairs` as a list of (open, close) texts."""
    if isinstance(pairs, tuple) and len(pairs) == 2:
        if all(isinstance(p, str) for p in pairs):
            pairs = [pairs]
    pairs = list(pairs)
    if not all(
        isinstance(p, (tuple, list))
        and len(p) == 2
        and all(isinstance(t, str) and t for t in p)
        for p in pairs
    ):
        raise ValueError(
            f"annotations: `{what}` must be an (open, close) pair of token "
            f"texts or a list of them, got {pairs!r}."
        )
    return [tuple(p) for p in pairs]


def depth(
    ids,
    vocabulary,
    pairs,
    at_least: int = 1,
    ignore=(),
    escape: str | None = None,
) -> np.ndarray:
    """Steps enclosed by at least `at_least` of the `pairs` (nesting).

    Args:
        ids: token ids (..., time), or their texts.
        vocabulary: id -> text (a sequence or mapping), or None.
        pairs: an `(open, close)` pair of token texts, or a list of them.
            A pair whose open and close differ nests (brackets); a quote
            pair (open == close) does not, and hides every other delimiter
            inside it.
        at_least: the depth to reach.
        ignore: pairs that hide delimiters inside them without counting
            (strings and comments, when counting brackets in code).
        escape: a token that makes the next one plain inside quote and
            `ignore` pairs (a backslash in code).

    A step is enclosed by a pair strictly between its open and close
    tokens: the delimiters themselves are outside. Delimiters are single
    tokens; on characters, triple quotes work by parity (three toggles),
    so a quote inside a docstring flips the characters up to the next
    one (0.2% of the characters of this module's source).
    """
    pairs, ignore = _pairs(pairs, "pairs"), _pairs(ignore, "ignore")
    if not isinstance(at_least, int) or at_least < 1:
        raise ValueError(
            f"annotations: `at_least` must be an int >= 1, got {at_least!r}."
        )
    rows, shape = _rows(token_texts(ids, vocabulary))
    counts = np.array([_enclosing(row, pairs, ignore, escape) for row in rows])
    return (counts >= at_least).reshape(shape)


def inside(
    ids, vocabulary, pairs, ignore=(), escape: str | None = None
) -> np.ndarray:
    """Steps inside any of `pairs` (see `depth`, with `at_least=1`)."""
    return depth(ids, vocabulary, pairs, 1, ignore, escape)


def _enclosing(texts, pairs, ignore, escape):
    """Per step, how many of `pairs` enclose it (a stack of open pairs,
    indices into `pairs + ignore`)."""
    every = pairs + ignore
    literal = [o == c for o, c in pairs] + [True] * len(ignore)
    openers = {}
    for index, (opening, _) in enumerate(every):
        openers.setdefault(opening, index)
    stack, level, escaped = [], 0, False
    found = np.zeros(len(texts), int)
    for step, text in enumerate(texts):
        top = stack[-1] if stack else None
        if top is not None and literal[top] and (escaped or text == escape):
            escaped = not escaped
        elif top is not None and text == every[top][1]:
            stack.pop()
            level -= top < len(pairs)
        elif (top is None or not literal[top]) and text in openers:
            found[step] = level
            stack.append(openers[text])
            level += stack[-1] < len(pairs)
            continue
        found[step] = level
    return found


def columns(ids, vocabulary, newline: str = "\n") -> np.ndarray:
    """Per step, the characters before its token on its line (int): 0
    after a token ending in `newline` and at each sequence's start."""
    rows, shape = _rows(token_texts(ids, vocabulary))
    found = np.zeros(rows.shape, int)
    for r, row in enumerate(rows):
        column = 0
        for step, text in enumerate(row):
            found[r, step] = column
            _, broken, last = text.rpartition(newline)
            column = len(last) if broken else column + len(text)
    return found.reshape(shape)


def line_position(
    ids,
    vocabulary,
    start: int,
    stop: int | None = None,
    newline: str = "\n",
) -> np.ndarray:
    """Steps whose token starts at a column in [start, stop) of its line
    (`columns`); `stop` None: no end."""
    column = columns(ids, vocabulary, newline)
    marked = column >= start
    return marked if stop is None else marked & (column < stop)


def indentation(
    ids,
    vocabulary,
    at_least: int,
    newline: str = "\n",
    indent: str = " \t",
) -> np.ndarray:
    """Steps of lines indented by at least `at_least` characters of
    `indent`, counting the indentation read so far (a step inside the
    leading whitespace sees the part before it)."""
    rows, shape = _rows(token_texts(ids, vocabulary))
    found = np.zeros(rows.shape, int)
    for r, row in enumerate(rows):
        width, leading = 0, True
        for step, text in enumerate(row):
            found[r, step] = width
            _, broken, last = text.rpartition(newline)
            if broken:
                width, leading = 0, True
            if leading:
                kept = len(last) - len(last.lstrip(indent))
                width += kept
                leading = kept == len(last)
    return (found >= at_least).reshape(shape)


def _series(values, feature):
    array = np.asarray(values, np.float64)
    if array.ndim == 3:
        array = array[..., feature]
    if array.ndim not in (1, 2):
        raise ValueError(
            "annotations: expected values (time,), (batch, time) or "
            f"(batch, time, features), got shape {array.shape}."
        )
    return array


def above(values, threshold: float, feature: int = 0) -> np.ndarray:
    """Steps whose value (of `feature` for 3-D values) exceeds
    `threshold`."""
    with np.errstate(invalid="ignore"):
        return _series(values, feature) > threshold


def below(values, threshold: float, feature: int = 0) -> np.ndarray:
    """Steps whose value is below `threshold`."""
    with np.errstate(invalid="ignore"):
        return _series(values, feature) < threshold


def rising(values, by: float = 0.0, feature: int = 0) -> np.ndarray:
    """Steps whose value exceeds the previous step's by more than `by`
    (the first step is never rising)."""
    array = _series(values, feature)
    change = np.diff(array, axis=-1, prepend=np.nan)
    with np.errstate(invalid="ignore"):
        return change > by


def falling(values, by: float = 0.0, feature: int = 0) -> np.ndarray:
    """Steps whose value is below the previous step's by more than `by`."""
    array = _series(values, feature)
    change = np.diff(array, axis=-1, prepend=np.nan)
    with np.errstate(invalid="ignore"):
        return change < -by

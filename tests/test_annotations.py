"""keras_gates.annotations against expectations written by hand: each line
of marks below is what a reader of the text above it would mark."""

import io
import pathlib
import tokenize

import numpy as np
import pytest

from keras_gates import annotations as notes

CODE = "x = f(\"a(b\", 'c\\'d') # it's (\n    y = [(1, (2))]\n"
CHARS = sorted(set(CODE))
IDS = np.array([CHARS.index(c) for c in CODE])
QUOTES = [('"', '"'), ("'", "'")]
COMMENT = [("#", "\n")]


# The steps marked, by index: x=0, f=4, "(" 5, '"' 6 and 10, "'" 13 and 18
# (an escaped one at 16), ")" 19, "#" 21, newline 29; line two: four
# spaces 30-33, y=34, "[" 38, "(" 39 and 43, digits 40 and 44, ")" 45 and
# 46, "]" 47, newline 48.
EXPECTED = {
    "string": [7, 8, 9, 14, 15, 16, 17],
    "parentheses": [*range(6, 19), *range(40, 46)],
    "depth 2": [*range(40, 46)],
    "column 10+": [*range(10, 30), *range(40, 49)],
    "indented 4+": [*range(34, 49)],
    "regex": [4, 5, 40, 44],
    "x or y": [0, 34],
}


def test_code_annotations_mark_what_a_reader_would():
    found = {
        "string": notes.inside(IDS, CHARS, QUOTES, COMMENT, escape="\\"),
        "parentheses": notes.inside(
            IDS, CHARS, ("(", ")"), QUOTES + COMMENT, escape="\\"
        ),
        "depth 2": notes.depth(
            IDS, CHARS, [("(", ")"), ("[", "]")], 2, QUOTES + COMMENT, "\\"
        ),
        "column 10+": notes.line_position(IDS, CHARS, 10),
        "indented 4+": notes.indentation(IDS, CHARS, 4),
        "regex": notes.regex(IDS, CHARS, r"f\(|\d"),
        "x or y": notes.token_in(IDS, CHARS, ["x", "y"]),
    }
    for name, steps in EXPECTED.items():
        assert np.flatnonzero(found[name]).tolist() == steps, name


def test_rows_are_read_one_by_one_and_ids_may_be_texts():
    # Two rows of token texts: the quote opened in the first row does not
    # reach into the second, and columns restart at each row.
    texts = np.array([list("a'b'c'd"), list("ef'g\nhi")])
    assert notes.inside(texts, None, ("'", "'")).astype(int).tolist() == [
        [0, 0, 1, 0, 0, 0, 1],
        [0, 0, 0, 1, 1, 1, 1],
    ]
    assert notes.columns(texts, None)[1].tolist() == [0, 1, 2, 3, 4, 0, 1]
    # Multi-character tokens: columns count characters, a token ending a
    # line restarts them, and a regular expression spans tokens.
    words = ["def", " f", "(x):\n", "    ", "return", " x"]
    assert notes.columns([words], None)[0].tolist() == [0, 3, 5, 0, 4, 10]
    assert notes.regex([words], None, r"f\(x").tolist() == [
        [False, True, True, False, False, False]
    ]
    assert notes.regex([words], None, r"return x", join="").tolist() == [
        [False, False, False, False, True, True]
    ]


def test_vocabulary_lookups_follow_the_dashboard():
    vocabulary = {0: "pad", 1: "a"}
    assert notes.token_texts([0, 1, 7], vocabulary).tolist() == [
        "pad",
        "a",
        "#7",
    ]
    assert notes.token_texts([3, 4]).tolist() == ["3", "4"]
    assert notes.token_in([[0, 1, 2]], None, {"1", "2"}).tolist() == [
        [False, True, True]
    ]


def test_time_series_annotations():
    values = np.array([[0.0, 2.0, 1.0, 1.0, 3.0, np.nan]])
    assert notes.above(values, 1.0).tolist() == [
        [False, True, False, False, True, False]
    ]
    assert notes.below(values, 1.0).tolist() == [
        [True, False, False, False, False, False]
    ]
    assert notes.rising(values).tolist() == [
        [False, True, False, False, True, False]
    ]
    assert notes.falling(values).tolist() == [
        [False, False, True, False, False, False]
    ]
    assert notes.rising(values, by=1.5).tolist() == [
        [False, True, False, False, True, False]
    ]
    assert notes.rising(values, by=2.0).tolist() == [[False] * 6]
    features = np.stack([values, -values], axis=-1)
    assert notes.above(features, 0.5, feature=1).tolist() == [[False] * 6]


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="`pairs` must be an"):
        notes.inside(IDS, CHARS, "()")
    with pytest.raises(ValueError, match="`at_least` must be an int >= 1"):
        notes.depth(IDS, CHARS, ("(", ")"), at_least=0)
    with pytest.raises(ValueError, match="integer token ids or token texts"):
        notes.token_in(np.ones(3), None, ["1"])
    with pytest.raises(ValueError, match="expected values"):
        notes.above(np.ones((1, 2, 3, 4)), 0.0)


def test_strings_agree_with_pythons_own_tokenizer():
    # The characters inside string literals of real code (the sources of
    # keras_gates.annotations and of this test: quotes of both kinds,
    # triple quotes, escaped quotes, quotes in comments: it's), found by
    # `inside` and by Python's tokenizer.
    source = "".join(
        pathlib.Path(path).read_text() for path in (notes.__file__, __file__)
    )
    chars = np.array(list(source))
    found = notes.inside(chars, None, QUOTES, COMMENT, escape="\\")
    lines = np.cumsum([0] + [len(x) for x in source.splitlines(True)])
    strings = np.zeros(len(source), bool)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        text = token.string
        if token.type == tokenize.STRING:
            text = text.lstrip("rbufRBUF")
            quote = 3 if text[:3] in ('"""', "'''") else 1
            start = lines[token.start[0] - 1] + token.start[1]
            start += len(token.string) - len(text) + quote
            end = lines[token.end[0] - 1] + token.end[1] - quote
            strings[start:end] = True
        elif token.type == getattr(tokenize, "FSTRING_MIDDLE", None):
            start = lines[token.start[0] - 1] + token.start[1]
            strings[start : lines[token.end[0] - 1] + token.end[1]] = True
    assert strings.mean() > 0.1
    # Triple quotes work by parity: a quote inside a docstring flips the
    # few characters up to the next one (26 of 15,000 here).
    assert (found == strings).mean() > 0.996

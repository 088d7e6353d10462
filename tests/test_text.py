"""The character corpus behind the demo: text, windows, sampling."""

import numpy as np
import pytest

from keras_gates import text


def test_stdlib_source_is_python_and_deterministic():
    source = text.stdlib_source(5000)
    assert len(source) == 5000
    assert source == text.stdlib_source(5000)
    assert "import " in source or "def " in source


@pytest.mark.parametrize("bad", [0, -3, 2.5, "100"])
def test_stdlib_source_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="max_chars must be a positive int"):
        text.stdlib_source(bad)


def test_windows_cover_the_text_shifted_by_one():
    corpus = text.CharCorpus("hello world, hello gates", seq_len=5)
    x, y = corpus.windows()
    assert x.shape == y.shape == (4, 5)
    assert corpus.decode(x.ravel()) == "hello world, hello g"
    assert corpus.decode(y.ravel()) == "ello world, hello ga"


def test_unigram_loss_equals_numpy_entropy():
    corpus = text.CharCorpus("aaab" * 10, seq_len=2)
    p = np.array([0.75, 0.25])
    assert corpus.unigram_loss() == pytest.approx(-(p * np.log(p)).sum())


def test_sample_follows_the_predicted_distribution():
    corpus = text.CharCorpus("ab " * 20, seq_len=4)
    b = corpus.chars.index("b")
    seen = []

    def predict(window):
        assert window.shape == (1, 4) and window.dtype == np.int32
        seen.append(window.copy())
        logits = np.full((1, 4, len(corpus.chars)), -50.0)
        logits[0, -1, b] = 50.0  # always "b"
        return logits

    assert corpus.sample(predict, "a", 3) == "bbb"
    # The start, padded with spaces on the left, then what was generated.
    assert corpus.decode(seen[0][0]) == "   a"
    assert corpus.decode(seen[-1][0]) == " abb"


@pytest.mark.parametrize(
    "args, message",
    [
        (("abc", 1), "seq_len must be an int >= 2"),
        (("abc", 3), "more than seq_len = 3 characters"),
    ],
)
def test_corpus_errors(args, message):
    with pytest.raises(ValueError, match=message):
        text.CharCorpus(*args)


def test_corpus_wants_str():
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        text.CharCorpus(b"abcdef", 2)

"""Character-level text for recurrent language models.

The default corpus is the source code of the Python standard library that
runs this process, so every machine has it, in the spirit of Karpathy,
Johnson & Fei-Fei (2015), who trained character-level LSTMs on the Linux
kernel's source.
"""

import pathlib
import sysconfig

import numpy as np


def stdlib_source(max_chars: int) -> str:
    """The first `max_chars` characters of the standard library's `.py` files.

    Files are read in name order from the top-level library directory, so
    the text is the same on every machine with the same Python version.

    Raises:
        ValueError: `max_chars` is not a positive int, or this Python has no
            `.py` sources (some slim installs keep only bytecode).
    """
    if not isinstance(max_chars, int) or max_chars <= 0:
        raise ValueError(
            f"max_chars must be a positive int, got {max_chars!r}."
        )
    library = pathlib.Path(sysconfig.get_paths()["stdlib"])
    parts, size = [], 0
    for path in sorted(library.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        parts.append(text[: max_chars - size])
        size += len(parts[-1])
        if size >= max_chars:
            break
    if not size:
        raise ValueError(
            f"found no Python source files in {library}; pass a text file "
            "instead."
        )
    return "".join(parts)


class CharCorpus:
    """A text cut into next-character prediction windows.

    Args:
        text: the corpus, a non-empty str.
        seq_len: characters per training sequence (>= 2).

    Attributes:
        chars: the vocabulary, sorted; ids index into it.
        ids: the text as int32 ids.

    Example:

    >>> corpus = CharCorpus("abcabcabca", seq_len=3)
    >>> corpus.chars
    ['a', 'b', 'c']
    >>> x, y = corpus.windows()
    >>> corpus.decode(x[0]), corpus.decode(y[0])
    ('abc', 'bca')
    """

    def __init__(self, text: str, seq_len: int):
        if not isinstance(seq_len, int) or seq_len < 2:
            raise ValueError(f"seq_len must be an int >= 2, got {seq_len!r}.")
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}.")
        if len(text) < seq_len + 1:
            raise ValueError(
                f"the text needs more than seq_len = {seq_len} characters."
            )
        self.seq_len = seq_len
        self.chars = sorted(set(text))
        self._index = {c: i for i, c in enumerate(self.chars)}
        self.ids = self.encode(text)

    def encode(self, text):
        """int32 ids of `text`; characters outside the vocabulary -> 0."""
        return np.array([self._index.get(c, 0) for c in text], np.int32)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)

    def windows(self):
        """Non-overlapping `(x, y)` (n, seq_len) int32: y is x shifted by 1."""
        n = (len(self.ids) - 1) // self.seq_len
        size = n * self.seq_len
        x = self.ids[:size].reshape(n, self.seq_len)
        y = self.ids[1 : size + 1].reshape(n, self.seq_len)
        return x, y

    def unigram_loss(self):
        """Cross-entropy (nats) of guessing by character frequency alone.

        A model whose loss is well below this has learnt more than which
        characters are common.
        """
        counts = np.bincount(self.ids, minlength=len(self.chars))
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())

    def sample(self, predict, start, length, temperature=0.7, seed=0):
        """Generate `length` characters after `start`.

        Args:
            predict: maps ids (1, seq_len) to next-character logits
                (1, seq_len, vocabulary), e.g. `model.predict_on_batch`.
            start: the text to continue (its last seq_len characters are
                used; shorter starts are padded on the left with spaces
                when the vocabulary has one).
            length: how many characters to generate.
            temperature: > 0; lower is more conservative.
        """
        rng = np.random.default_rng(seed)
        pad = self._index.get(" ", 0)
        ids = [pad] * self.seq_len + list(self.encode(start))
        for _ in range(length):
            window = np.array([ids[-self.seq_len :]], np.int32)
            logits = np.asarray(predict(window), np.float64)[0, -1]
            logits = logits / temperature
            p = np.exp(logits - logits.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
        return self.decode(ids[-length:])

"""Reading what the `keras-gates` command is given: a saved model, .npy
arrays of model inputs or annotations, a JSON vocabulary; every problem is
a ValueError of one line, which the command prints."""

import json

import keras
import numpy as np

# What keras.saving.load_model reads: the Keras format and legacy HDF5.
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(path):
    if not path.is_file():
        raise ValueError(f"no such model file: {path}")
    if path.suffix not in MODEL_SUFFIXES:
        raise ValueError(
            f"{path} is not a model file Keras loads (a "
            f"{', '.join(MODEL_SUFFIXES)} file)"
        )
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises many kinds here
        raise ValueError(f"cannot load {path}: {error}") from None


def load_vocabulary(path):
    if path is None:
        return None
    try:
        vocabulary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(
            f"cannot read --vocabulary {path} as JSON: {error}"
        ) from None
    if not isinstance(vocabulary, list):
        raise ValueError(
            f"--vocabulary {path} must hold a JSON list of token texts, got "
            f"{type(vocabulary).__name__}"
        )
    return vocabulary


def load_npy(path, what="data", texts=False):
    """The one numeric (or bool) array of a .npy file of `what` (data,
    labels, ...), or with `texts` an array of texts (str) too; clear
    errors."""
    if not path.is_file():
        raise ValueError(f"no such {what} file: {path}")
    check_npy_size(path)
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(
            f"cannot read {path} as a .npy array: {error}"
        ) from None
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{path} holds several arrays; give one .npy array")
    if texts and x.dtype.kind in "US":
        return x
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{path} holds {x.dtype} values, not numbers")
    return x


def load_data(path, model):
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ValueError(
            f"the model takes {len(inputs) or 'unknown'} inputs; keras-gates "
            "feeds one array to a model with one input"
        )
    expected = tuple(inputs[0].shape)
    takes_texts = str(inputs[0].dtype) == "string"
    x = load_npy(path, texts=takes_texts)
    if takes_texts:
        if x.dtype.kind not in "US":
            raise ValueError(
                f"{path} holds {x.dtype} values; the model takes texts (a "
                ".npy of str, one text per sequence)"
            )
        if x.ndim == 1 and expected[1:] == (1,):
            x = x[:, None]  # one text per sequence, as Input((1,)) takes
    fits = len(x.shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected[1:], x.shape[1:])
    )
    if not fits or not len(x):
        wanted = ", ".join("any" if e is None else str(e) for e in expected[1:])
        raise ValueError(
            f"{path} has shape {x.shape}; the model expects (N, {wanted}) "
            "with N >= 1"
        )
    return x


def check_npy_size(path):
    """A clear error for a .npy file shorter than its header says (an empty
    file, or a header claiming more than the file holds), before loading."""
    size = path.stat().st_size
    with path.open("rb") as file:
        try:
            major, _ = np.lib.format.read_magic(file)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(file)
        except (ValueError, EOFError, OSError):
            raise ValueError(
                f"cannot read {path} as a .npy array ({size} bytes, no .npy "
                "header)"
            ) from None
        count = int(np.prod(shape, dtype=object))
        claimed = file.tell() + count * dtype.itemsize
    if dtype.hasobject or claimed > size:
        raise ValueError(
            f"{path} says it holds a {dtype} array of shape {shape} "
            f"({claimed:,} bytes) but the file has {size:,} bytes"
        )

"""Small synthetic tasks that exercise a recurrent layer's memory."""

import numpy as np


def adding_problem(n, steps, seed=0):
    """The adding problem (Hochreiter & Schmidhuber 1997).

    Each sequence holds `steps` random values in [0, 1) and two markers;
    the target is the sum of the two marked values, so solving it means
    keeping a value in memory across many steps.

    Returns:
        `(x, y)`: inputs (n, steps, 2), a value and a 0/1 marker per step,
        and targets (n, 1), both float32.

    Example:

    >>> x, y = adding_problem(4, 10)
    >>> x.shape, y.shape, float(x[0, :, 1].sum())
    ((4, 10, 2), (4, 1), 2.0)
    """
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, (n, steps))
    markers = np.zeros((n, steps))
    for row in range(n):
        first, second = rng.choice(steps, size=2, replace=False)
        markers[row, [first, second]] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return x, y

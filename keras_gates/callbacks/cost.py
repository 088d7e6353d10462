"""What GateMonitor's own work costs: `CostMeter`.

The monitor times its work (at the start of a fit and at logged epoch
ends) and writes the seconds of each logged epoch as the scalar
`gate_monitor/seconds`. When that work, summed over the logged epochs
after the first (which traces the probe), exceeds `SHARE` of their time,
it warns once with a `GateMonitorCostWarning`: a share of the training
time, so that work done now and then (attribution within its budget) is
judged over the epochs it spans.
"""

import time
import warnings

# The share of an epoch's time past which GateMonitor warns, once.
SHARE = 0.1


class GateMonitorCostWarning(UserWarning):
    """GateMonitor's own work takes a large share of the training time."""


class CostMeter:
    """The seconds of one GateMonitor's work."""

    def __init__(self):
        self.spent = 0.0  # seconds since the last logged epoch
        self.epoch_start = None
        self.logged = 0  # logged epochs, over all fits
        self.warned = False
        # Summed over the logged epochs after the first: work, epochs.
        self.work = self.epochs = 0.0

    def add(self, started):
        """Count the work from `started` (`time.perf_counter()`) to now."""
        self.spent += time.perf_counter() - started

    def take(self, started, hint):
        """The seconds of this logged epoch's work (up to now, from
        `started` on at its end); warns once past `SHARE` of the epochs
        so far, telling `hint` (what to change)."""
        self.add(started)
        spent, self.spent = self.spent, 0.0
        self.logged += 1
        if self.warned or self.logged == 1 or self.epoch_start is None:
            return spent
        self.work += spent
        self.epochs += time.perf_counter() - self.epoch_start
        if self.work > SHARE * self.epochs:
            self.warned = True
            warnings.warn(
                f"GateMonitor: its work took {self.work:.2f} s of "
                f"{self.epochs:.2f} s of logged epochs (more than "
                f"{SHARE:.0%}). {hint} gate_monitor/seconds in "
                "TensorBoard shows it per epoch.",
                GateMonitorCostWarning,
                stacklevel=3,
            )
        return spent

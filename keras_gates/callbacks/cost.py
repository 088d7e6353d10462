"""What GateMonitor's own work costs: `CostMeter`.

The monitor times its work (at the start of a fit and at logged epoch
ends) and writes the seconds of each logged epoch as the scalar
`gate_monitor/seconds`. When that work exceeds `SHARE` of an epoch's time,
after the first logged epoch (which traces the probe and draws the
figures), it warns once with a `GateMonitorCostWarning`.
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

    def add(self, started):
        """Count the work from `started` (`time.perf_counter()`) to now."""
        self.spent += time.perf_counter() - started

    def take(self, started, hint):
        """The seconds of this logged epoch's work (up to now, from
        `started` on at its end); warns once past `SHARE` of the epoch,
        telling `hint` (what to change)."""
        self.add(started)
        spent, self.spent = self.spent, 0.0
        self.logged += 1
        if self.warned or self.logged == 1 or self.epoch_start is None:
            return spent
        epoch = time.perf_counter() - self.epoch_start
        if spent > SHARE * epoch:
            self.warned = True
            warnings.warn(
                f"GateMonitor: its work took {spent:.2f} s of a "
                f"{epoch:.2f} s epoch (more than {SHARE:.0%}). {hint} "
                "gate_monitor/seconds in TensorBoard shows it per epoch.",
                GateMonitorCostWarning,
                stacklevel=3,
            )
        return spent

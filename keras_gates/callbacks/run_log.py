"""Where and at which steps GateMonitor writes: `RunLog`.

Steps never collide. A monitor used for several `fit` calls that count
their epochs from 0 again carries on after the last step it wrote; a new
monitor on a log directory that a GateMonitor wrote to before (a resumed
run, a new process) first reads the event files for its tags and carries
on after the last step found there. Once-only summaries are written once
per run directory.
"""

import os

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2


class RunLog:
    """The writers, steps and once-only summaries of one GateMonitor.

    Args:
        log_dir: the log directory; runs are its subdirectories.
        runs: the run names the monitor may write to.
    """

    def __init__(self, log_dir, runs=("train", "validation")):
        self.log_dir, self.runs = log_dir, runs
        self.chief = True  # False: another process writes (no-op writers)
        self.last_step = None  # the last step written, over all fits
        self._offset = None
        self._read = False
        self._noted = set()  # (run, tag) of once-only summaries written
        self._writers = {}

    def check(self):
        """Raise a ValueError unless the log directory can be written."""
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            probe = os.path.join(self.log_dir, ".gate_monitor_write_test")
            with open(probe, "w"):
                pass
            os.remove(probe)
        except OSError as error:
            raise ValueError(
                f"GateMonitor: cannot write to log_dir {self.log_dir!r}: "
                f"{error.strerror or error}."
            ) from None

    def start_fit(self, prefixes):
        """A fit begins; at the first, read what was written before under
        tags starting with one of `prefixes`."""
        self._offset = None  # set at this fit's first logged epoch
        if self._read or not self.chief:
            return
        self._read = True
        for run, tags in written(self.log_dir, self.runs, prefixes).items():
            self._noted.update((run, tag) for tag in tags)
            for step in tags.values():
                self.last_step = max(step, self.last_step or 0)

    @property
    def fresh(self):
        """Whether nothing was written to the runs yet."""
        return not self._noted

    def once(self, run, tag):
        """Whether the once-only summary `tag` of `run` is still to be
        written (it counts as written from now on)."""
        due = (run, tag) not in self._noted
        self._noted.add((run, tag))
        return due

    def step(self, epoch):
        """The summary step of a logged `epoch`: the epoch itself, moved
        past the steps written before when a fit counts its epochs from 0
        again (or from an epoch already written)."""
        if self._offset is None:
            last = self.last_step
            fresh = last is None or epoch > last
            self._offset = 0 if fresh else last + 1 - epoch
        self.last_step = epoch + self._offset
        return self.last_step

    def writer(self, run):
        """The summary writer of `run`, created at first use."""
        if run not in self._writers:
            import tensorflow as tf

            if not self.chief:
                # Another process of this multi-host run writes.
                self._writers[run] = tf.summary.create_noop_writer()
            else:
                path = os.path.join(self.log_dir, run)
                self._writers[run] = tf.summary.create_file_writer(path)
        return self._writers[run]

    def close(self):
        """Close the writers (a later fit makes new ones)."""
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def written(log_dir, runs, prefixes):
    """{run: {tag: last step}} of the tags starting with one of `prefixes`
    in the event files of `log_dir/<run>`, for each of `runs`."""
    found = {}
    for run in runs:
        tags = found.setdefault(run, {})
        directory = os.path.join(log_dir, run)
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            if "tfevents" not in entry:
                continue
            path = os.path.join(directory, entry)
            loader = event_file_loader.RawEventFileLoader(path)
            for record in loader.Load():
                event = event_pb2.Event.FromString(record)
                for value in event.summary.value:
                    if value.tag.startswith(prefixes):
                        last = tags.get(value.tag, event.step)
                        tags[value.tag] = max(last, event.step)
    return found

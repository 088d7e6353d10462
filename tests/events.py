"""Reading TensorBoard event files back, for tests of what was written."""

from tensorboard.backend.event_processing import event_file_loader
from tensorboard.util import tensor_util


def summaries(run_dir):
    """{tag: {step: value}} over every event file of one TensorBoard run."""
    found = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                data = tensor_util.make_ndarray(value.tensor)
                found.setdefault(value.tag, {})[event.step] = data
    return found

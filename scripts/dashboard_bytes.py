"""Bytes the Gates dashboard's summaries take in a log directory.

For every run under LOGDIR (a folder holding event files), the bytes of the
dashboard's summaries (tags of `tensorboard_plugin_gates.metadata`) per
logged epoch, next to the bytes of everything else written at that epoch,
read back from the event files themselves.

    python scripts/dashboard_bytes.py logs/demo
"""

import argparse
import collections
import pathlib

from tensorboard.backend.event_processing import event_file_loader

from tensorboard_plugin_gates import metadata


def sizes(run_dir):
    """{step: [dashboard bytes, other summary bytes]} of one run."""
    found = collections.defaultdict(lambda: [0, 0])
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                owner = value.metadata.plugin_data.plugin_name
                ours = owner == metadata.PLUGIN_NAME
                found[event.step][0 if ours else 1] += value.ByteSize()
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=pathlib.Path)
    args = parser.parse_args(argv)
    runs = sorted(
        {p.parent for p in args.logdir.rglob("events.out.tfevents.*")}
    )
    print("| run | epoch | dashboard bytes | other summaries, bytes |")
    print("|---|---:|---:|---:|")
    for run in runs:
        for step, (ours, other) in sorted(sizes(run).items()):
            if ours:
                name = run.relative_to(args.logdir)
                print(f"| {name} | {step} | {ours:,} | {other:,} |")


if __name__ == "__main__":
    main()

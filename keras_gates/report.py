"""Plain-text tables of gate statistics, for terminals and logs."""

from keras_gates.summary.stats import gate_stats


def saturation_table(
    records: list,
    left: float = 0.1,
    right: float = 0.9,
    always: float = 0.99,
) -> str:
    """A markdown table: one row per layer and gate.

    Args:
        records: `keras_gates.probe.LayerGates`, e.g. from
            `GateProbe(model).run(x)`; masked steps are left out.
        left, right: saturation thresholds of sigmoid gates.
        always: a unit counts as always closed (open) when at least this
            fraction of its steps is below `left` (above `right`).

    Returns:
        The table as a str. Sigmoid gates get their saturation columns;
        the other activations (candidate, cell, hidden) only the mean.
    """
    lines = [
        f"| layer | gate | mean | < {left} | > {right} "
        "| units always closed | units always open |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for record in records:
        for gate, values in record.gates.items():
            sigmoid = gate in record.sigmoid_gates
            stats = gate_stats(
                values, record.valid, sigmoid, left, right, always
            )
            row = [record.name, gate, f"{stats.mean:.3f}"]
            if sigmoid:
                row += [
                    f"{stats.left:.1%}",
                    f"{stats.right:.1%}",
                    f"{stats.always_closed:.1%}",
                    f"{stats.always_open:.1%}",
                ]
            else:
                row += ["", "", "", ""]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"

// The importance of gate units (GateMonitor(importance=...)): how much the
// model's loss (or its outputs) change when a unit is held at its mean at
// every step. Read from the `units` and `unit` routes; shown as the area of
// the saturation map's dots, beside the pattern search's results and, for
// the selected unit, over the logged epochs.

import { el, svg, tip } from "./dom.js";

/** {measure, gates: {gate: [importance or null per unit]}} of `gates` of
 * one layer at one epoch, or null when no unit's importance was logged. */
export async function importanceOf(get, { run, layer, epoch }, gates) {
  const answers = await Promise.all(gates.map((gate) =>
    get("units", { run, layer, gate, epoch }).catch(() => null)));
  const found = { measure: null, gates: {} };
  let any = false;
  answers.forEach((answer, i) => {
    if (!answer) return;
    const values = answer.units.map((u) => u.importance);
    found.gates[gates[i]] = values;
    found.measure = found.measure || answer.importance_measure;
    any = any || values.some((v) => v !== null);
  });
  return any ? found : null;
}

/** What an importance means, in words. */
export function meaning(measure) {
  return measure === "loss"
    ? "change of the loss when the unit is held at its mean"
    : "mean absolute change of the outputs when the unit is held at its mean";
}

/** A signed importance as text. */
export function signed(value) {
  if (value === null || value === undefined) return "not measured";
  const text = Math.abs(value) >= 0.01 || value === 0 ? value.toFixed(3) : value.toExponential(1);
  return value > 0 ? `+${text}` : text;
}

/** For the saturation map: `{radius(gate, unit), note(gate, unit),
 * measured(gate, unit), legend}` sizing dots by importance, the largest
 * of the layer's shown gates at 11 px, a unit whose loss did not grow at
 * the smallest; null without importance. */
export function dotSizes(importance) {
  if (!importance) return null;
  const all = Object.values(importance.gates).flat().filter((v) => v !== null);
  const top = Math.max(...all.map((v) => Math.max(0, v)), 1e-12);
  const value = (gate, unit) => (importance.gates[gate] || [])[unit] ?? null;
  return {
    measured: (gate, unit) => value(gate, unit) !== null,
    radius: (gate, unit) => {
      const v = value(gate, unit);
      return v === null ? 4 : 2.5 + 8.5 * Math.sqrt(Math.max(0, v) / top);
    },
    note: (gate, unit) => `, importance ${signed(value(gate, unit))}`,
    value,
    legend: el("p", { class: "importance-legend", text: `Dot area: the unit's importance (${meaning(importance.measure)}); rings: not measured.` }),
  };
}

/** The selected unit's importance at each logged epoch (a /unit answer),
 * as bars from zero, the shown epoch outlined. */
export function drawUnitImportance(data, epoch) {
  const rows = data.epochs;
  if (!rows.some((row) => row.importance !== null && row.importance !== undefined)) {
    return el("p", { class: "unit-importance-none", text: "Importance not measured: GateMonitor(importance=True) measures it." });
  }
  const values = rows.map((row) => row.importance ?? 0);
  const high = Math.max(0, ...values), low = Math.min(0, ...values);
  const left = 62, width = 260, height = 90, top = 8;
  const y = (v) => top + ((high - v) * height) / (high - low || 1);
  const step = width / rows.length;
  const chart = svg("svg", { width: left + width + 10, height: top + height + 24, class: "unit-importance" });
  chart.append(
    svg("line", { x1: left, x2: left + width, y1: y(0), y2: y(0), class: "guide" }),
    svg("text", { x: left - 6, y: y(high) + 4, class: "tick", "text-anchor": "end", text: signed(high) }),
    svg("text", { x: left - 6, y: y(low) + 4, class: "tick", "text-anchor": "end", text: signed(low) }),
  );
  rows.forEach((row, i) => {
    const v = row.importance ?? null;
    const x = left + i * step;
    if (v !== null) {
      chart.append(svg("rect", {
        x: x + 1, y: Math.min(y(v), y(0)), width: Math.max(1, step - 2), height: Math.abs(y(v) - y(0)),
        class: row.epoch === epoch ? "importance-bar current" : "importance-bar",
        "data-epoch": row.epoch, "data-importance": v,
      }, tip(`epoch ${row.epoch}: importance ${signed(v)}`)));
    }
    if (rows.length <= 12 || i % Math.ceil(rows.length / 12) === 0) {
      chart.append(svg("text", { x: x + step / 2, y: top + height + 16, class: "tick", "text-anchor": "middle", text: row.epoch }));
    }
  });
  return el("div", {},
    el("p", { text: `Its importance at each logged epoch (${meaning(data.importance_measure)}):` }),
    chart);
}

/** The text after a pattern search result: its importance, if measured. */
export function resultNote(importance, gate, unit) {
  const value = importance && (importance.gates[gate] || [])[unit];
  return value === null || value === undefined ? "" : `, importance ${signed(value)}`;
}

// The saturation map (Karpathy, Johnson & Fei-Fei 2015): per sigmoid gate,
// one dot per unit at (fraction of steps shut, fraction of steps open),
// and the selected unit's histogram of values at every logged epoch.

import { css, gateColour, rgb, SELECTED, HIT } from "./colors.js";
import { el, svg, tip, fmt } from "./dom.js";

const SIZE = 200, PAD = 34;

/** One scatter panel per sigmoid gate of a /saturation answer.
 *
 * `view`: {unit, gate, hits: Set (units found for `gate`), compare: a
 *          /saturation answer or null, onUnit(unit), sizes: dots sized by
 *          importance (importance.js `dotSizes`) or null}.
 */
export function drawSaturation(data, view) {
  const panels = Object.entries(data.gates).map(([gate, fractions]) =>
    panel(gate, fractions, data, view));
  return el("div", {}, el("div", { class: "saturation-panels" }, panels), view.sizes && view.sizes.legend);
}

function panel(gate, { left, right }, data, view) {
  const x = (f) => PAD + f * SIZE, y = (f) => 8 + (1 - f) * SIZE;
  const chart = svg("svg", { width: SIZE + PAD + 10, height: SIZE + PAD + 14, class: "scatter", "data-gate": gate });
  chart.append(
    svg("rect", { x: x(0), y: y(1), width: SIZE, height: SIZE, class: "plot-area" }),
    svg("line", { x1: x(0), y1: y(1), x2: x(1), y2: y(0), class: "guide" }, tip("x + y = 1: always saturated")),
    svg("text", { x: x(0.5), y: SIZE + 38, class: "axis-title", "text-anchor": "middle", text: `fraction shut (< ${data.left})` }),
    svg("text", {
      x: 10, y: y(0.5), class: "axis-title", "text-anchor": "middle",
      transform: `rotate(-90 10 ${y(0.5)})`, text: `fraction open (> ${data.right})`,
    }),
  );
  for (const f of [0, 0.5, 1]) {
    chart.append(
      svg("text", { x: x(f), y: SIZE + 22, class: "tick", "text-anchor": "middle", text: f }),
      svg("text", { x: PAD - 4, y: y(f) + 4, class: "tick", "text-anchor": "end", text: f }),
    );
  }
  const compare = view.compare && view.compare.gates[gate];
  if (compare) {
    compare.left.forEach((l, unit) => chart.append(svg("circle", {
      cx: x(l), cy: y(compare.right[unit]), r: 4, class: "compare-dot",
    }, tip(`unit ${unit} at epoch ${view.compare.epoch}`))));
  }
  // Larger dots first (smaller ones stay visible), the selected unit last.
  const sizes = view.sizes;
  const size = (unit) => (sizes ? sizes.radius(gate, unit) : 0);
  const order = [...left.keys()].sort((a, b) =>
    (a === view.unit) - (b === view.unit) || size(b) - size(a));
  for (const unit of order) {
    const selected = unit === view.unit;
    const colour = selected ? SELECTED : gate === view.gate && view.hits.has(unit) ? HIT : gateColour(gate);
    const ring = sizes && !sizes.measured(gate, unit);
    chart.append(svg("circle", {
      cx: x(left[unit]), cy: y(right[unit]),
      r: (sizes ? sizes.radius(gate, unit) : 5) + (selected ? 2 : 0),
      class: `dot${selected ? " selected" : ""}${ring ? " unmeasured" : ""}`, "data-unit": unit,
      "data-importance": sizes ? sizes.value(gate, unit) ?? "none" : null,
      fill: ring ? "none" : colour, style: ring ? `stroke: ${colour}` : null,
      onclick: () => view.onUnit(unit),
    }, tip(`unit ${unit}: shut ${pct(left[unit])}, open ${pct(right[unit])} of the steps${sizes ? sizes.note(gate, unit) : ""}`)));
  }
  return el("figure", {}, el("figcaption", { text: gate }), chart);
}

function pct(f) {
  return f === null ? "n/a" : `${(100 * f).toFixed(1)}%`;
}

/** The selected unit's histograms over epochs (a /unit answer), newest at
 * the bottom, the shown epoch outlined. */
export function drawUnitHistograms(data, epoch, sigmoid) {
  const rowHeight = 28, width = 260, left = 62;
  const rows = data.epochs;
  const chart = svg("svg", { width: left + width + 10, height: rows.length * rowHeight + 24, class: "unit-histograms" });
  rows.forEach((row, i) => {
    const top = i * rowHeight + 4;
    const most = Math.max(1, ...row.counts);
    const barWidth = width / row.counts.length;
    chart.append(svg("text", {
      x: left - 6, y: top + rowHeight - 8, class: row.epoch === epoch ? "tick current" : "tick",
      "text-anchor": "end", text: `epoch ${row.epoch}`,
    }));
    row.counts.forEach((count, b) => {
      const h = ((rowHeight - 6) * count) / most;
      const centre = row.low + ((b + 0.5) * (row.high - row.low)) / row.counts.length;
      chart.append(svg("rect", {
        x: left + b * barWidth, y: top + rowHeight - 4 - h, width: barWidth - 1, height: h,
        fill: css(rgb(centre, row.low, row.high, sigmoid)),
      }, tip(`epoch ${row.epoch}: ${count} values in [${fmt(row.low + (b * (row.high - row.low)) / row.counts.length, 2)}, ${fmt(row.low + ((b + 1) * (row.high - row.low)) / row.counts.length, 2)})`)));
    });
    if (row.epoch === epoch) {
      chart.append(svg("rect", { x: left - 2, y: top, width: width + 4, height: rowHeight - 2, class: "current-row" }));
    }
  });
  const last = rows[rows.length - 1];
  if (last) {
    const y = rows.length * rowHeight + 16;
    chart.append(
      svg("text", { x: left, y, class: "tick", text: fmt(last.low, 2) }),
      svg("text", { x: left + width, y, class: "tick", "text-anchor": "end", text: fmt(last.high, 2) }),
    );
  }
  return chart;
}

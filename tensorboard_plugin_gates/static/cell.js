// The cell, drawn as in the tutorial's figures: each gate is a sigmoid
// layer (a box) feeding a multiplication; boxes are coloured by the gate's
// mean value at the shown epoch, and clicking a box (or a state line)
// selects that gate for the other views. The dimension table is one click
// away.

import { css, ink, rgb, SELECTED } from "./colors.js";
import { el, svg, tip, fmt } from "./dom.js";

const BOX_W = 88, BOX_H = 40;

// Per kind of cell: boxes (neural-network layers), operators (no weights),
// wires, and the state lines that stand for the `cell`/`hidden` values.
const LAYOUTS = {
  LSTM: {
    boxes: [
      ["forget", 150, 170, "\u03c3"], ["input", 240, 170, "\u03c3"],
      ["candidate", 330, 170, "tanh"], ["output", 450, 170, "\u03c3"],
    ],
    operators: [
      [150, 50, "\u00d7"], [285, 50, "+"], [285, 110, "\u00d7"],
      [450, 92, "tanh"], [450, 130, "\u00d7"],
    ],
    wires: [
      [[150, 150], [150, 62]], [[240, 150], [240, 110], [273, 110]],
      [[330, 150], [330, 110], [297, 110]], [[285, 98], [285, 62]],
      [[450, 150], [450, 142]], [[450, 50], [450, 80]], [[450, 104], [450, 118]],
      [[40, 225], [450, 225]], [[100, 262], [100, 225]],
      [[150, 225], [150, 190]], [[240, 225], [240, 190]],
      [[330, 225], [330, 190]], [[450, 225], [450, 190]],
    ],
    states: [
      ["cell", [[20, 50], [138, 50], [162, 50], [273, 50], [297, 50], [560, 50]], "c\u209c\u208b\u2081", "c\u209c"],
      ["hidden", [[462, 130], [560, 130]], null, "h\u209c"],
    ],
    inputs: [[20, 225, "h\u209c\u208b\u2081"], [100, 276, "x\u209c"]],
  },
  GRU: {
    boxes: [
      ["reset", 130, 170, "\u03c3"], ["update", 220, 170, "\u03c3"],
      ["candidate", 370, 170, "tanh"],
    ],
    operators: [
      [130, 115, "\u00d7"], [220, 50, "\u00d7"], [290, 95, "1\u2212"],
      [370, 95, "\u00d7"], [370, 50, "+"],
    ],
    wires: [
      [[60, 50], [60, 115], [118, 115]], [[130, 150], [130, 127]],
      [[142, 115], [175, 115], [175, 135], [345, 135], [345, 150]],
      [[220, 150], [220, 62]], [[220, 95], [278, 95]], [[302, 95], [358, 95]],
      [[370, 150], [370, 107]], [[370, 83], [370, 62]],
      [[40, 50], [40, 225], [370, 225]], [[100, 262], [100, 225]],
      [[130, 225], [130, 190]], [[220, 225], [220, 190]], [[370, 225], [370, 190]],
    ],
    states: [
      ["hidden", [[20, 50], [208, 50], [232, 50], [358, 50], [382, 50], [560, 50]], "h\u209c\u208b\u2081", "h\u209c"],
    ],
    inputs: [[100, 276, "x\u209c"]],
  },
  SimpleRNN: {
    boxes: [["hidden", 260, 150, "tanh"]],
    operators: [],
    wires: [[[40, 225], [260, 225], [260, 170]], [[100, 262], [100, 225]]],
    states: [["hidden", [[260, 130], [260, 60], [560, 60]], null, "h\u209c"]],
    inputs: [[20, 225, "h\u209c\u208b\u2081"], [100, 276, "x\u209c"]],
  },
};

/** The cell of `info` (a layer's /layer answer) as a DOM element.
 *
 * `means`: {gate: mean at the shown epoch}; `view`: {gate, onGate(gate)}.
 */
export function drawCell(info, means, view) {
  const layout = LAYOUTS[info.kind];
  const drawing = svg("svg", { viewBox: "0 0 580 290", width: 580, height: 290, class: "cell" });
  const path = (points) => points.map(([x, y]) => `${x},${y}`).join(" ");
  for (const points of layout.wires) {
    drawing.append(svg("polyline", { points: path(points), class: "wire" }));
  }
  for (const [gate, points, from, to] of layout.states) {
    const selected = gate === view.gate;
    const group = svg("g", { class: "state", "data-gate": gate, onclick: () => view.onGate(gate) },
      tip(`${gate}: mean ${fmt(means[gate])} (click to show)`));
    group.append(
      svg("polyline", { points: path(points), class: "hit-area" }),
      svg("polyline", { points: path(points), class: selected ? "state-line selected" : "state-line" }),
    );
    const [x0, y0] = points[0], [x1, y1] = points[points.length - 1];
    if (from) group.append(svg("text", { x: x0, y: y0 - 8, class: "label", text: from }));
    group.append(svg("text", { x: x1 - 4, y: y1 - 8, class: "label", "text-anchor": "end", text: `${to} (${gate})` }));
    drawing.append(group);
  }
  for (const [x, y, symbol] of layout.operators) {
    drawing.append(
      svg("circle", { cx: x, cy: y, r: 12, class: "operator" }),
      svg("text", { x, y: y + 4, class: "operator-text", "text-anchor": "middle", text: symbol }),
    );
  }
  for (const [x, y, text] of layout.inputs) {
    drawing.append(svg("text", { x, y, class: "label", "text-anchor": "middle", text }));
  }
  for (const [gate, x, y, symbol] of layout.boxes) {
    drawing.append(box(gate, x, y, symbol, info, means[gate], view));
  }
  return el("div", { class: "cell-view" }, drawing, sizes(info));
}

function box(gate, x, y, symbol, info, mean, view) {
  const sigmoid = info.sigmoid_gates.includes(gate);
  const fill = mean === null || mean === undefined ? [240, 240, 240]
    : sigmoid ? rgb(mean, 0, 1, true) : rgb(mean, -1, 1, false);
  const selected = gate === view.gate;
  return svg("g", {
    class: selected ? "gate selected" : "gate", "data-gate": gate,
    onclick: () => view.onGate(gate),
  },
  tip(`${gate} ${sigmoid ? "gate (sigmoid layer)" : "(tanh layer)"}: mean ${fmt(mean)} at this epoch`),
  svg("rect", {
    x: x - BOX_W / 2, y: y - BOX_H / 2, width: BOX_W, height: BOX_H, rx: 4,
    fill: css(fill), stroke: selected ? SELECTED : "#333", "stroke-width": selected ? 3 : 1,
  }),
  svg("text", { x, y: y - 4, "text-anchor": "middle", fill: ink(fill), class: "gate-name", text: `${symbol} ${gate}` }),
  svg("text", { x, y: y + 12, "text-anchor": "middle", fill: ink(fill), class: "gate-mean", text: fmt(mean, 2) }));
}

/** The sizes line and the dimension table behind a button. */
function sizes(info) {
  const rows = info.dimensions.filter((row) => row.weight_shape);
  const dx = info.input_dim, dh = info.units;
  const table = el("table", { class: "dimensions", hidden: true },
    el("thead", {}, el("tr", {}, ["part", "kind", "x\u209c + h\u209c\u208b\u2081", "weights", "bias", "params", "output"]
      .map((h) => el("th", { text: h })))),
    el("tbody", {},
      info.dimensions.map((row) => el("tr", {},
        [row.part, row.kind,
          row.weight_shape ? `${row.d_x} + ${row.d_h} = ${row.d_x + row.d_h}` : "-",
          row.weight_shape ? `(${row.weight_shape.join(", ")})` : "none",
          row.bias_shape ? `(${row.bias_shape.join(", ")})` : "none",
          row.params, row.d_h].map((v) => el("td", { text: v })))),
      el("tr", { class: "total" }, el("td", { text: "total" }), el("td", { colspan: 4 }),
        el("td", { text: rows.reduce((sum, r) => sum + r.params, 0) }), el("td"))));
  const button = el("button", {
    class: "toggle-dimensions", type: "button", text: "Dimension table",
    onclick: () => { table.hidden = !table.hidden; },
  });
  const line = `D_x = ${dx}, D_h = ${dh}: ${rows.length} layer${rows.length > 1 ? "s" : ""} of (${dx} + ${dh} = ${dx + dh}) \u2192 ${dh}, ${info.params} parameters${info.go_backwards ? "; runs backwards (steps shown in input order)" : ""}`;
  return el("div", { class: "sizes" }, el("p", { text: line }), button, table);
}

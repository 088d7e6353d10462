// Over training: per gate, its mean and its saturation at every logged
// epoch, as small line charts with one colour per gate and a legend.

import { gateColour } from "./colors.js";
import { el, svg, tip, fmt } from "./dom.js";

const WIDTH = 170, HEIGHT = 110, LEFT = 40, TOP = 8;
const CHARTS = [
  ["mean", "mean value"],
  ["left", "fraction shut"],
  ["right", "fraction open"],
];

/** Three charts of a /training answer; `epoch` and `compare` are marked. */
export function drawTraining(data, epoch, compare) {
  const gates = Object.keys(data.gates);
  const legend = el("div", { class: "legend" }, gates.map((gate) =>
    el("span", { class: "legend-item" },
      el("span", { class: "swatch", style: `background:${gateColour(gate)}` }), gate)));
  const charts = CHARTS.map(([key, title]) =>
    chart(data, key, title, epoch, compare));
  return el("div", { class: "training" }, legend, el("div", { class: "charts" }, charts));
}

function chart(data, key, title, epoch, compare) {
  const series = Object.entries(data.gates).filter(([, s]) => s[key].some((v) => v !== null));
  const values = series.flatMap(([, s]) => s[key]).filter((v) => v !== null);
  let low = key === "mean" ? Math.min(0, ...values) : 0;
  let high = key === "mean" ? Math.max(1, ...values) : 1;
  if (high === low) high = low + 1;
  const epochs = data.epochs;
  const span = Math.max(1, epochs[epochs.length - 1] - epochs[0]);
  const x = (e) => LEFT + ((e - epochs[0]) * WIDTH) / span;
  const y = (v) => TOP + (1 - (v - low) / (high - low)) * HEIGHT;
  const plot = svg("svg", { width: LEFT + WIDTH + 12, height: TOP + HEIGHT + 22, class: "over-training", "data-key": key });
  plot.append(svg("rect", { x: LEFT, y: TOP, width: WIDTH, height: HEIGHT, class: "plot-area" }));
  for (const v of [low, high]) {
    plot.append(svg("text", { x: LEFT - 4, y: y(v) + 4, class: "tick", "text-anchor": "end", text: fmt(v, 1) }));
  }
  for (const e of [epochs[0], epochs[epochs.length - 1]]) {
    plot.append(svg("text", { x: x(e), y: TOP + HEIGHT + 14, class: "tick", "text-anchor": "middle", text: e }));
  }
  for (const [marked, style] of [[epoch, "epoch-mark"], [compare, "epoch-mark compare"]]) {
    if (marked === null || marked === undefined) continue;
    plot.append(svg("line", { x1: x(marked), x2: x(marked), y1: TOP, y2: TOP + HEIGHT, class: style }));
  }
  for (const [gate, s] of series) {
    const points = s[key].map((v, i) => (v === null ? null : `${x(epochs[i]).toFixed(1)},${y(v).toFixed(1)}`))
      .filter(Boolean);
    plot.append(svg("polyline", { points: points.join(" "), class: "series", stroke: gateColour(gate) }, tip(gate)));
    s[key].forEach((v, i) => {
      if (v === null) return;
      plot.append(svg("circle", { cx: x(epochs[i]), cy: y(v), r: 2.5, fill: gateColour(gate) },
        tip(`${gate}, epoch ${epochs[i]}: ${fmt(v, 3)}`)));
    });
  }
  return el("figure", {}, el("figcaption", { text: title }), plot);
}

// Unit traces: one line per unit over the steps of the shown sequence
// (LSTMVis's parallel-coordinates view). Dragging across the chart picks a
// range of steps for the pattern search; clicking a line selects its unit.

import { gateColour, HIT, SELECTED } from "./colors.js";
import { el, svg, tip, ticks, fmt } from "./dom.js";

const LEFT = 46, TOP = 10, BOTTOM = 24, HEIGHT = 220;

/** The traces of `data` (a /values answer) and the pattern search form.
 *
 * `view`: {unit, hits: Set, range: [start, end] or null, threshold,
 *          results: [{unit, score}] or null, maxWidth, onUnit(unit),
 *          onSearch(start, end, threshold), note(unit): text after a
 *          result (its importance) or undefined}.
 */
export function drawTraces(data, view) {
  const { units, steps, low, high } = data;
  const width = Math.max(200, Math.min(view.maxWidth, steps * 18));
  const x = (s) => LEFT + ((s + 0.5) * width) / steps;
  const y = (v) => TOP + (1 - (v - low) / (high - low)) * HEIGHT;
  const chart = svg("svg", {
    width: LEFT + width + 10, height: TOP + HEIGHT + BOTTOM, class: "traces",
  });
  const background = svg("rect", {
    x: LEFT, y: TOP, width, height: HEIGHT, class: "plot-area",
  });
  chart.append(background);
  const band = svg("rect", { y: TOP, height: HEIGHT, class: "range", visibility: "hidden" });
  chart.append(band);
  const showRange = ([a, b]) => {
    band.setAttribute("x", x(a) - width / steps / 2);
    band.setAttribute("width", ((b - a + 1) * width) / steps);
    band.setAttribute("visibility", "visible");
  };
  if (view.range) showRange(view.range);

  for (const v of [low, (low + high) / 2, high]) {
    chart.append(svg("text", { x: LEFT - 6, y: y(v) + 4, class: "tick", "text-anchor": "end", text: fmt(v, 2) }));
  }
  for (const s of ticks(steps, width / steps, 28)) {
    chart.append(svg("text", { x: x(s), y: TOP + HEIGHT + 16, class: "tick", "text-anchor": "middle", text: data.first_step + s }));
  }
  if (view.threshold !== null && view.threshold >= low && view.threshold <= high) {
    chart.append(svg("line", {
      x1: LEFT, x2: LEFT + width, y1: y(view.threshold), y2: y(view.threshold), class: "threshold",
    }));
  }

  // Plain lines first (grey once some units stand out), then hits, then
  // the selected unit on top.
  const plain = view.hits.size || view.unit !== null ? "#b0b0b0" : gateColour(data.gate);
  const order = [...Array(units).keys()].sort(
    (a, b) => rank(a, view) - rank(b, view),
  );
  for (const unit of order) {
    const points = [];
    data.values[unit].forEach((v, s) => {
      if (v !== null) points.push(`${x(s).toFixed(1)},${y(v).toFixed(1)}`);
    });
    const selected = unit === view.unit, hit = view.hits.has(unit);
    const line = svg("polyline", {
      points: points.join(" "),
      class: selected ? "trace selected" : hit ? "trace hit" : "trace",
      stroke: selected ? SELECTED : hit ? HIT : plain,
      "data-unit": unit,
      onclick: () => view.onUnit(unit),
    }, tip(`unit ${unit}`));
    chart.append(line);
  }

  // Drag across the chart to choose the range of steps.
  let dragStart = null;
  const stepAt = (event) => {
    const r = chart.getBoundingClientRect();
    const s = Math.floor(((event.clientX - r.left - LEFT) * steps) / width);
    return Math.max(0, Math.min(steps - 1, s));
  };
  background.addEventListener("mousedown", (event) => {
    dragStart = stepAt(event);
    showRange([dragStart, dragStart]);
  });
  chart.addEventListener("mousemove", (event) => {
    if (dragStart === null) return;
    const s = stepAt(event);
    showRange([Math.min(dragStart, s), Math.max(dragStart, s)]);
  });
  chart.addEventListener("mouseup", (event) => {
    if (dragStart === null) return;
    const s = stepAt(event);
    start.value = data.first_step + Math.min(dragStart, s);
    end.value = data.first_step + Math.max(dragStart, s);
    dragStart = null;
  });

  // The form speaks in input steps; the range and the API in stored ones.
  const offset = data.first_step;
  const [first, last] = view.range || [0, 0];
  const bounds = { type: "number", min: offset, max: offset + steps - 1 };
  const start = el("input", { ...bounds, value: offset + first, name: "start" });
  const end = el("input", { ...bounds, value: offset + last, name: "end" });
  const threshold = el("input", {
    type: "number", step: 0.05, value: view.threshold ?? (data.sigmoid ? 0.5 : 0), name: "threshold",
  });
  const form = el("form", {
    class: "pattern",
    onsubmit: (event) => {
      event.preventDefault();
      view.onSearch(Number(start.value) - offset, Number(end.value) - offset, Number(threshold.value));
    },
  },
  el("span", { text: "Pattern search: units above" }), threshold,
  el("span", { text: "from step" }), start, el("span", { text: "to" }), end,
  el("span", { text: "and below it just before and after" }),
  el("button", { type: "submit", text: "Find units" }));
  return el("div", { class: "traces-view" }, chart, form, results(view));
}

function rank(unit, view) {
  return unit === view.unit ? 2 : view.hits.has(unit) ? 1 : 0;
}

function results(view) {
  if (!view.results) return el("div", { class: "results" });
  if (!view.results.length) {
    return el("div", { class: "results", text: "No unit has this pattern." });
  }
  return el("ol", { class: "results" }, view.results.map(({ unit, score }) =>
    el("li", {},
      el("button", { class: "unit-link", "data-unit": unit, onclick: () => view.onUnit(unit), text: `unit ${unit}` }),
      ` score ${fmt(score, 3)}${view.note ? view.note(unit) : ""}`)));
}

// Unit cards: the units of the selected gate, one card each, sorted by what
// the logs know of them (the `units` route): their match to each annotation
// (GateMonitor(annotations=...)), importance, saturation, or change since
// the previous epoch. A card shows the unit on the shown probe sequence
// (the tokens shaded by its value, as Karpathy et al. 2015 show cells, and
// its trace), its histogram over epochs, its best matches and importance;
// clicking a card selects its unit in every view. Token texts only ever
// become text nodes.

import { css, gateColour, ink, MASKED, rgb } from "./colors.js";
import { el, svg, tip, fmt, shown, clear } from "./dom.js";

const FIRST = 12; // cards shown at first; "Show more" adds as many
const TRACE_WIDTH = 300, TRACE_HEIGHT = 40, ROW = 5, BIN = 8;

/** The sort keys of a `units` answer: [key, label, value of a unit]. */
function sorts(data) {
  const keys = data.annotations.map((name) => [
    `match:${name}`, `match to "${name}"`,
    (u) => (u.matches.find((m) => m.annotation === name) || {}).score ?? null,
  ]);
  keys.push(
    ["importance", "importance", (u) => u.importance],
    ["open", "fraction open", (u) => u.open],
    ["shut", "fraction shut", (u) => u.shut],
    ["change", "change since the previous epoch", (u) => u.change],
    ["unit", "unit index", (u) => -u.unit],
  );
  return keys;
}

/** The default sort: the first annotation, else importance when measured,
 * else the unit index. */
function defaultSort(data) {
  if (data.annotations.length) return `match:${data.annotations[0]}`;
  return data.units.some((u) => u.importance !== null) ? "importance" : "unit";
}

/** The card view of a `units` answer.
 *
 * `view`: {values: the /values answer of the shown sequence, unit (the
 *          selected one or null), state: {sort, shown} kept across
 *          renders, onUnit(unit), history(unit): a promise of its /unit
 *          answer}.
 */
export function drawCards(data, view) {
  const state = view.state;
  const keys = sorts(data);
  if (!keys.some(([key]) => key === state.sort)) state.sort = defaultSort(data);
  state.shown = state.shown || FIRST;
  const box = el("div", { class: "cards-view" });
  const render = () => {
    const [, , value] = keys.find(([key]) => key === state.sort);
    const order = [...data.units].sort((a, b) => compare(value(a), value(b)) || a.unit - b.unit);
    let picked = order.slice(0, state.shown);
    const selected = order.find((u) => u.unit === view.unit);
    if (selected && !picked.includes(selected)) picked = [...picked, selected];
    const more = order.length > state.shown ? el("button", {
      type: "button", class: "more-cards", text: `Show more (${order.length - state.shown} left)`,
      onclick: () => { state.shown += FIRST; render(); },
    }) : null;
    clear(box).append(
      el("div", { class: "cards-controls" },
        el("label", {}, "sort units by ", el("select", {
          name: "card-sort",
          onchange: (event) => { state.sort = event.target.value; render(); },
        }, keys.map(([key, label]) => el("option", { value: key, text: label, selected: key === state.sort })))),
        el("span", { class: "cards-note", text: note(data) })),
      el("div", { class: "cards" }, picked.map((u) => card(u, data, view))),
      more);
  };
  render();
  return box;
}

/** Larger first; missing values last. */
function compare(a, b) {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1;
  if (b === null || b === undefined) return -1;
  return b - a;
}

function note(data) {
  const parts = [`${data.units.length} units of ${data.gate}, epoch ${data.epoch}`];
  if (!data.annotations.length) parts.push("no annotations logged (GateMonitor(annotations=...))");
  if (data.units.every((u) => u.importance === null)) parts.push("importance not measured");
  return parts.join("; ");
}

function card(unit, data, view) {
  const selected = unit.unit === view.unit;
  const best = [...unit.matches].sort((a, b) => b.score - a.score).slice(0, 3);
  const stats = [];
  if (unit.shut !== null) stats.push(`shut ${pct(unit.shut)}`, `open ${pct(unit.open)}`);
  stats.push(`change ${fmt(unit.change, 3)}`);
  const history = el("div", { class: "card-history" });
  view.history(unit.unit).then((answer) => {
    history.append(drawHistory(answer, data.epoch));
  }).catch((error) => history.append(el("span", { class: "error", text: error.message })));
  return el("div", {
    class: selected ? "unit-card selected" : "unit-card", "data-unit": unit.unit,
    role: "button", tabindex: 0,
    onclick: () => view.onUnit(unit.unit),
    onkeydown: (event) => { if (event.key === "Enter") view.onUnit(unit.unit); },
  },
  el("div", { class: "card-head" },
    el("b", { text: `unit ${unit.unit}` }),
    el("span", { class: "card-importance", text: importance(unit, data) })),
  el("div", { class: "card-matches" }, best.length
    ? best.map((m) => el("span", {
      class: "match", "data-annotation": m.annotation,
      text: `${m.annotation} ${fmt(m.score, 2)} ${m.direction === "high" ? "\u2191" : "\u2193"}`,
      title: `ROC AUC ${fmt(m.score, 3)}: ${m.direction === "high" ? "higher" : "lower"} at the steps "${m.annotation}" marks`,
    }))
    : el("span", { class: "card-none", text: "no matches logged" })),
  el("div", { class: "card-stats", text: stats.join(", ") }),
  trace(unit.unit, view.values),
  history);
}

function importance(unit, data) {
  if (unit.importance === null) return "importance n/a";
  const measure = data.importance_measure ? ` (${data.importance_measure})` : "";
  return `importance ${fmt(unit.importance, 4)}${measure}`;
}

function pct(f) {
  return f === null ? "n/a" : `${(100 * f).toFixed(0)}%`;
}

/** The range a unit's card shades on: [0, 1] for a sigmoid gate (open
 * and shut keep their colours), else symmetric around 0 out to the unit's
 * own largest magnitude on the sequence, so that a unit whose values are
 * small next to the gate's largest still shows its changes. */
function unitRange(row, values) {
  if (values.sigmoid) return [values.low, values.high];
  const largest = Math.max(0, ...row.filter((v) => v !== null).map(Math.abs));
  return largest > 0 ? [-largest, largest] : [values.low, values.high];
}

/** The unit on the shown sequence: a trace, and the tokens shaded by its
 * value when the inputs are text. */
function trace(unit, values) {
  const row = values.values[unit];
  const { steps, sigmoid } = values;
  const [low, high] = unitRange(row, values);
  const x = (s) => ((s + 0.5) * TRACE_WIDTH) / steps;
  const y = (v) => 2 + (1 - (v - low) / (high - low)) * (TRACE_HEIGHT - 4);
  const points = [];
  row.forEach((v, s) => { if (v !== null) points.push(`${x(s).toFixed(1)},${y(v).toFixed(1)}`); });
  const line = svg("svg", { width: TRACE_WIDTH, height: TRACE_HEIGHT, class: "card-trace" },
    svg("rect", { x: 0, y: 0, width: TRACE_WIDTH, height: TRACE_HEIGHT, class: "plot-area" }),
    svg("polyline", { points: points.join(" "), class: "series", stroke: gateColour(values.gate) }),
    tip(`unit ${unit} on probe sequence ${values.sequence}, from ${fmt(low, 2)} to ${fmt(high, 2)}`));
  if (!values.tokens || !values.token_text) return el("div", { class: "card-unit" }, line);
  const tokens = values.tokens.map((token, s) => {
    const value = row[s];
    const colour = value === null ? MASKED : rgb(value, low, high, sigmoid);
    return el("span", {
      class: "card-token", "data-step": s,
      style: `background:${css(colour)};color:${ink(colour)}`,
      title: `step ${values.first_step + s}: ${value === null ? "masked" : fmt(value, 3)}`,
      text: shown(token),
    });
  });
  return el("div", { class: "card-unit" }, line, el("div", { class: "card-tokens" }, tokens));
}

/** The unit's histogram at every logged epoch (a /unit answer): one row a
 * epoch, one cell a bin, darker for more values; `epoch` outlined. */
function drawHistory(answer, epoch) {
  const rows = answer.epochs;
  const bins = rows.length ? rows[0].counts.length : 0;
  const chart = svg("svg", { width: bins * BIN + 2, height: rows.length * ROW + 2, class: "card-epochs" });
  rows.forEach((row, i) => {
    const most = Math.max(1, ...row.counts);
    row.counts.forEach((count, b) => {
      chart.append(svg("rect", {
        x: 1 + b * BIN, y: 1 + i * ROW, width: BIN, height: ROW,
        fill: gateColour(answer.gate), "fill-opacity": (count / most).toFixed(3),
      }));
    });
    if (row.epoch === epoch) {
      chart.append(svg("rect", { x: 0.5, y: 0.5 + i * ROW, width: bins * BIN + 1, height: ROW + 1, class: "current-row" }));
    }
  });
  chart.append(tip(`unit ${answer.unit}: its values at each logged epoch (rows, oldest first) from low to high (columns)`));
  return el("div", {}, el("span", { class: "card-label", text: "histogram over epochs" }), chart);
}

// The Gates dashboard: entry point loaded by TensorBoard's plugin iframe
// (`render()`), holding the selection (run, layer, gate, epoch, compared
// epoch, sequence, unit, pattern) and laying out the views. Data comes from
// the plugin's JSON routes, relative to this module.

import { drawCards } from "./cards.js";
import { drawCell } from "./cell.js";
import { el, clear } from "./dom.js";
import { drawHeatmap } from "./heatmap.js";
import { dotSizes, drawUnitImportance, importanceOf, resultNote } from "./importance.js";
import { drawSaturation, drawUnitHistograms } from "./saturation.js";
import { drawTraces } from "./traces.js";
import { drawTraining } from "./training.js";

const cache = new Map();

/** GET a route's JSON; an error answer becomes an Error with its message. */
function get(route, query = {}) {
  const url = `./${route}?${new URLSearchParams(query)}`;
  if (!cache.has(url)) {
    cache.set(url, fetch(url).then(async (response) => {
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      return body;
    }));
  }
  return cache.get(url);
}

const state = {
  runs: {}, run: null, layer: null, gate: null, epoch: null, compare: null,
  sequence: 0, unit: null, hits: new Set(), range: null, threshold: null,
  results: null, cards: { sort: null, shown: 0 },
};
const parts = {};

export async function render() {
  document.head.append(el("link", { rel: "stylesheet", href: "./style.css" }));
  const app = el("div", { class: "gates-app" });
  document.body.append(app);
  try {
    state.runs = await get("runs");
  } catch (error) { // e.g. logs of a newer format: say so on the page
    app.append(el("div", { class: "empty notice", role: "alert" },
      el("h2", { text: "The Gates dashboard cannot read these logs" }),
      el("p", { class: "error", text: error.message })));
    return;
  }
  if (!Object.keys(state.runs).length) {
    app.append(el("div", { class: "empty" },
      el("h2", { text: "No gate data yet" }),
      el("p", { text: "Add keras_gates.GateMonitor(log_dir) to the callbacks of model.fit (or run keras-gates inspect --logdir), then reload." })));
    return;
  }
  for (const name of ["controls", "status", "cell", "training", "sequence", "traces", "cards", "saturation", "unit"]) {
    parts[name] = el("div", { class: `part ${name}` });
  }
  app.append(
    parts.controls, parts.status,
    el("div", { class: "row" }, panel("The cell", parts.cell), panel("Over training", parts.training)),
    panel("Sequence view", parts.sequence),
    panel("Unit traces and pattern search", parts.traces),
    panel("Unit cards", parts.cards),
    el("div", { class: "row" }, panel("Saturation map", parts.saturation), panel("Selected unit over epochs", parts.unit)),
  );
  choose({ run: Object.keys(state.runs)[0] });
}

function panel(title, body) {
  return el("section", { class: "panel" }, el("h3", { text: title }), body);
}

/** Change the selection; anything below a changed level is reset. */
function choose(change) {
  Object.assign(state, change);
  const layers = state.runs[state.run];
  if (!layers[state.layer]) state.layer = Object.keys(layers)[0];
  const info = layers[state.layer];
  if (!info.gates.includes(state.gate)) {
    state.gate = info.gates.includes("forget") ? "forget" : info.sigmoid_gates[0] || info.gates[0];
  }
  if (!info.epochs.includes(state.epoch)) state.epoch = info.epochs[info.epochs.length - 1];
  if (!info.epochs.includes(state.compare)) state.compare = null;
  if (state.sequence >= info.sequences) state.sequence = 0;
  if (state.unit !== null && state.unit >= info.units) state.unit = null;
  if (!("hits" in change) && ["run", "layer", "gate", "epoch", "sequence"].some((k) => k in change)) {
    state.hits = new Set();
    state.results = null;
  }
  update().catch((error) => {
    clear(parts.status).append(el("p", { class: "error", text: error.message }));
  });
}

function select(name, options, value, onChange) {
  return el("label", {}, `${name} `, el("select", {
    name, onchange: (event) => onChange(event.target.value),
  }, options.map(([key, text]) => el("option", { value: key, text, selected: String(key) === String(value) }))));
}

function controls(info) {
  const epochs = info.epochs;
  const slider = el("input", {
    type: "range", name: "epoch", min: 0, max: epochs.length - 1, value: epochs.indexOf(state.epoch),
    oninput: (event) => choose({ epoch: epochs[Number(event.target.value)] }),
  });
  return el("div", { class: "controls-row" },
    select("run", Object.keys(state.runs).map((r) => [r, r]), state.run, (run) => choose({ run })),
    select("layer", Object.keys(state.runs[state.run]).map((l) => [l, `${l} (${state.runs[state.run][l].kind})`]), state.layer, (layer) => choose({ layer })),
    select("gate", info.gates.map((g) => [g, g]), state.gate, (gate) => choose({ gate })),
    el("label", {}, "epoch ", slider, el("output", { class: "epoch-value", text: state.epoch })),
    select("compare", [["", "no other epoch"], ...epochs.map((e) => [e, `epoch ${e}`])], state.compare ?? "",
      (value) => choose({ compare: value === "" ? null : Number(value) })),
    select("sequence", [...Array(info.sequences).keys()].map((s) => [s, `probe sequence ${s}`]), state.sequence,
      (value) => choose({ sequence: Number(value) })),
    el("span", { class: "unit-value", text: state.unit === null ? "no unit selected" : `unit ${state.unit}` }),
    el("button", { type: "button", class: "reload", text: "Reload data", onclick: reload }));
}

/** Read the logs again (epochs logged since), keeping the selection. */
async function reload() {
  cache.clear();
  try {
    state.runs = await get("runs");
  } catch (error) {
    clear(parts.status).append(el("p", { class: "error", text: error.message }));
    return;
  }
  if (!state.runs[state.run]) state.run = Object.keys(state.runs)[0];
  choose({});
}

let generation = 0;

async function update() {
  const mine = ++generation;
  const info = state.runs[state.run][state.layer];
  const { run, layer, gate, epoch, compare, sequence } = state;
  const query = { run, layer, gate, sequence };
  const sigmoid = info.sigmoid_gates.length > 0;
  const measured = [...new Set([...info.sigmoid_gates, gate])];
  const [layerInfo, training, values, other, saturation, compared, unit, units, importance] = await Promise.all([
    get("layer", { run, layer }),
    get("training", { run, layer }),
    get("values", { ...query, epoch }),
    compare === null ? null : get("values", { ...query, epoch: compare }),
    sigmoid ? get("saturation", { run, layer, epoch }) : null,
    sigmoid && compare !== null ? get("saturation", { run, layer, epoch: compare }) : null,
    state.unit === null ? null : get("unit", { run, layer, gate, unit: state.unit }),
    get("units", { run, layer, gate, epoch }),
    importanceOf(get, { run, layer, epoch }, measured),
  ]);
  if (mine !== generation) return; // a newer selection is on its way
  clear(parts.status);
  clear(parts.controls).append(controls(info));
  const at = training.epochs.indexOf(epoch);
  const means = Object.fromEntries(Object.entries(training.gates).map(([g, s]) => [g, s.mean[at]]));
  clear(parts.cell).append(drawCell(layerInfo, means, { gate, onGate: (g) => choose({ gate: g }) }));
  clear(parts.training).append(drawTraining(training, epoch, compare));

  const onUnit = (u) => choose({ unit: u, hits: state.hits });
  const width = Math.max(320, Math.min(1100, window.innerWidth - 180));
  const shown = [[values, epoch], ...(other ? [[other, compare]] : [])];
  clear(parts.sequence).append(el("div", { class: "heatmaps" }, shown.map(([data, e]) =>
    drawHeatmap(data, {
      unit: state.unit, hits: state.hits, onUnit, maxWidth: width / shown.length,
      title: `${gate} of ${layer}, probe sequence ${sequence}, epoch ${e}`,
    }))));
  clear(parts.traces).append(drawTraces(values, {
    unit: state.unit, hits: state.hits, range: state.range, threshold: state.threshold,
    results: state.results, maxWidth: width, onUnit,
    onSearch: (start, end, threshold) => search(start, end, threshold),
    note: (u) => resultNote(importance, gate, u),
  }));
  clear(parts.cards).append(drawCards(units, {
    values, unit: state.unit, state: state.cards, onUnit,
    history: (u) => get("unit", { run, layer, gate, unit: u }),
  }));
  clear(parts.saturation).append(saturation
    ? drawSaturation(saturation, { unit: state.unit, gate, hits: state.hits, compare: compared, onUnit, sizes: dotSizes(importance) })
    : el("p", { text: `A ${info.kind} has no sigmoid gates: nothing saturates.` }));
  clear(parts.unit).append(unit
    ? el("div", {}, el("p", { text: `unit ${state.unit} of ${gate}: its values on all probe sequences at each logged epoch` }),
      drawUnitHistograms(unit, epoch, info.sigmoid_gates.includes(gate)),
      drawUnitImportance(unit, epoch))
    : el("p", { text: "Click a unit in any view to follow it here." }));
}

async function search(start, end, threshold) {
  const { run, layer, gate, epoch, sequence } = state;
  try {
    const found = await get("pattern", { run, layer, gate, epoch, sequence, start, end, threshold });
    choose({
      hits: new Set(found.units.map((u) => u.unit)), results: found.units,
      range: [start, end], threshold,
    });
  } catch (error) {
    clear(parts.status).append(el("p", { class: "error", text: error.message }));
  }
}

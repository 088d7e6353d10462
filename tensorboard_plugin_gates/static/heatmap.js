// The sequence view: one gate of one probe sequence as a units x steps
// heatmap on a canvas, with its axes, the input tokens along the steps, a
// colour bar and a tooltip, all drawn as DOM/SVG text. When GateMonitor
// logged attribution, a row under the heatmap shows how much each input
// step moves the selected unit (if it was explained) or the model output.

import { css, MASKED, NONFINITE, rgb, SELECTED, HIT } from "./colors.js";
import { el, svg, shown, ticks, fmt } from "./dom.js";

const LEFT = 46, TOP = 34, RIGHT = 76, ROW = 12;

function clamp(value, low, high) {
  return Math.max(low, Math.min(high, value));
}

/** A heatmap of `data` (a /values answer) as a DOM element.
 *
 * `view`: {unit, hits: Set of units, onUnit(unit), maxWidth, title}.
 */
export function drawHeatmap(data, view) {
  const { units, steps } = data;
  const cw = clamp(Math.floor(view.maxWidth / steps), 2, 18);
  const ch = clamp(Math.floor(380 / units), 2, 14);
  const width = cw * steps, height = ch * units;
  const tokens = data.tokens && data.token_text ? data.tokens : null;
  const longest = tokens ? Math.max(...tokens.map((t) => shown(t).length)) : 0;
  const upright = tokens && longest <= 1 && cw >= 7;
  const attribution = chosenAttribution(data, view.unit);
  const gap = attribution ? ROW + 6 : 0;
  const bottom = gap + (tokens ? (upright ? 24 : 80) : 24);
  const box = el("div", {
    class: "heatmap",
    style: `width:${LEFT + width + RIGHT}px;height:${TOP + height + bottom}px`,
  });

  const canvas = el("canvas", {
    width, height, class: "cells",
    style: `left:${LEFT}px;top:${TOP}px`,
    "data-cell-width": cw, "data-cell-height": ch,
    "data-units": units, "data-steps": steps,
  });
  paint(canvas, data);
  const overlay = svg("svg", {
    width: LEFT + width + RIGHT, height: TOP + height + bottom, class: "axes",
  });
  axes(overlay, data, cw, ch, tokens, upright, gap);
  if (attribution) attributionRow(overlay, attribution, cw, TOP + height + 4);
  marks(overlay, view, cw, ch, width);
  colourBar(overlay, data, LEFT + width + 14, TOP, Math.min(height, 200));
  const tooltip = el("div", { class: "tooltip", hidden: true });
  box.append(overlay, canvas, tooltip);

  const cellAt = (event) => {
    const r = canvas.getBoundingClientRect();
    const step = Math.floor((event.clientX - r.left) / cw);
    const unit = Math.floor((event.clientY - r.top) / ch);
    return step >= 0 && step < steps && unit >= 0 && unit < units
      ? { unit, step } : null;
  };
  canvas.addEventListener("mousemove", (event) => {
    const at = cellAt(event);
    if (!at) return void (tooltip.hidden = true);
    tooltip.replaceChildren(...describe(data, at, attribution).map((line) => el("div", { text: line })));
    tooltip.hidden = false;
    tooltip.style.left = `${LEFT + (at.step + 1) * cw + 8}px`;
    tooltip.style.top = `${TOP + at.unit * ch + 8}px`;
  });
  canvas.addEventListener("mouseleave", () => (tooltip.hidden = true));
  canvas.addEventListener("click", (event) => {
    const at = cellAt(event);
    if (at) view.onUnit(at.unit);
  });
  const label = attribution
    ? [el("p", { class: "attribution-label", text: `row "attr.": ${attribution.label}` })] : [];
  return el("figure", { class: "heatmap-figure" },
    el("figcaption", { text: view.title }), box, ...label);
}

/** The attribution row to show: the selected unit's if GateMonitor
 * explained it, else the model output's; null when none was logged. */
function chosenAttribution(data, unit) {
  const logged = data.attribution;
  if (!logged) return null;
  const when = ` (epoch ${logged.epoch})`;
  const mine = unit === null || unit === undefined ? null : logged.units[String(unit)];
  if (mine) return { values: mine, label: `${logged.method} of ${data.gate} unit ${unit}${when}`, unit };
  if (logged.output && logged.output.values) {
    const index = logged.output.index === null ? "" : ` ${logged.output.index}`;
    return { values: logged.output.values, label: `${logged.method} of the model output${index}${when}` };
  }
  return null;
}

/** One cell per step, shaded by |attribution| (red/blue by sign). */
function attributionRow(overlay, attribution, cw, y) {
  const finite = attribution.values.filter((v) => v !== null);
  const peak = Math.max(1e-12, ...finite.map(Math.abs));
  attribution.values.forEach((value, s) => {
    const colour = value === null ? MASKED
      : rgb(value, -peak, peak, false);
    overlay.append(svg("rect", {
      x: LEFT + s * cw, y, width: cw, height: ROW, fill: css(colour),
      class: "attribution", "data-step": s,
    }));
  });
  overlay.append(svg("text", {
    x: LEFT - 6, y: y + ROW - 2, class: "tick", "text-anchor": "end", text: "attr.",
  }));
}

/** The tooltip's lines for one cell. */
function describe(data, { unit, step }, attribution) {
  const value = data.values[unit][step];
  const state = !data.valid[step] ? "masked step"
    : value === null ? "not finite (NaN or Inf)" : `value ${fmt(value, 4)}`;
  const lines = [`unit ${unit}, step ${data.first_step + step}`, state];
  if (data.tokens) {
    const label = data.token_text ? "token" : "input";
    lines.push(`${label}: ${data.token_text ? shown(data.tokens[step]) : data.tokens[step]}`);
  }
  if (attribution && attribution.values[step] !== null) {
    lines.push(`${attribution.label}: ${attribution.values[step].toPrecision(3)}`);
  }
  return lines;
}

function paint(canvas, data) {
  const { units, steps, low, high, sigmoid } = data;
  const cells = new ImageData(steps, units);
  for (let u = 0; u < units; u++) {
    for (let s = 0; s < steps; s++) {
      const value = data.values[u][s];
      const colour = !data.valid[s] ? MASKED
        : value === null ? NONFINITE : rgb(value, low, high, sigmoid);
      const at = 4 * (u * steps + s);
      cells.data.set([...colour, 255], at);
    }
  }
  const small = document.createElement("canvas");
  small.width = steps;
  small.height = units;
  small.getContext("2d").putImageData(cells, 0, 0);
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function axes(overlay, data, cw, ch, tokens, upright, gap) {
  const bottom = TOP + data.units * ch + gap;
  for (const s of ticks(data.steps, cw, 28)) {
    overlay.append(svg("text", {
      x: LEFT + (s + 0.5) * cw, y: TOP - 6, class: "tick", "text-anchor": "middle", text: data.first_step + s,
    }));
  }
  for (const u of ticks(data.units, ch, 13)) {
    overlay.append(svg("text", {
      x: LEFT - 6, y: TOP + (u + 0.5) * ch + 4, class: "tick", "text-anchor": "end", text: u,
    }));
  }
  overlay.append(
    svg("text", { x: 4, y: 12, class: "axis-title", text: "rows: units, columns: steps" }),
  );
  if (!tokens) return;
  const every = upright ? 1 : Math.max(1, Math.ceil(11 / cw));
  tokens.forEach((token, s) => {
    if (s % every) return;
    const x = LEFT + (s + 0.5) * cw;
    const text = shown(token);
    const attributes = upright
      ? { x, y: bottom + 15, "text-anchor": "middle" }
      : { x, y: bottom + 8, "text-anchor": "end", transform: `rotate(-60 ${x} ${bottom + 8})` };
    overlay.append(svg("text", {
      ...attributes, class: "token", "data-step": s,
      text: text.length > 12 ? `${text.slice(0, 11)}\u2026` : text,
    }));
  });
}

function marks(overlay, view, cw, ch, width) {
  for (const unit of view.hits) {
    overlay.append(svg("rect", {
      x: LEFT - 4, y: TOP + unit * ch, width: 3, height: Math.max(ch, 2), fill: HIT,
    }));
  }
  if (view.unit !== null && view.unit !== undefined) {
    overlay.append(svg("rect", {
      x: LEFT - 1, y: TOP + view.unit * ch - 1, width: width + 2, height: ch + 2,
      fill: "none", stroke: SELECTED, "stroke-width": 2, class: "selected-unit",
    }));
  }
}

function colourBar(overlay, data, x, y, height) {
  const slices = 40;
  for (let i = 0; i < slices; i++) {
    const t = 1 - (i + 0.5) / slices;
    const value = data.low + t * (data.high - data.low);
    overlay.append(svg("rect", {
      x, y: y + (i * height) / slices, width: 12, height: height / slices + 0.5,
      fill: css(rgb(value, data.low, data.high, data.sigmoid)),
    }));
  }
  for (const t of [0, 0.5, 1]) {
    const value = data.high - t * (data.high - data.low);
    overlay.append(svg("text", {
      x: x + 16, y: y + t * height + 4, class: "tick", text: fmt(value, 2),
    }));
  }
}

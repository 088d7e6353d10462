// Small DOM helpers. Text from the logs (run, layer and gate names, tokens)
// only ever reaches the page as text nodes or attribute values, never as
// HTML.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, attributes, children) {
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: el("div", {class: "x", onclick: f}, child, "text"). */
export function el(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** An SVG element, as `el`. */
export function svg(tag, attributes, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, children);
}

/** An SVG <title>: the browser's hover text for its parent. */
export function tip(text) {
  return svg("title", { text });
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

/** Tokens of whitespace made visible (space, newline, tab); others as
 * they are, but for the space a subword piece that starts a word begins
 * with (writer.py's `row_texts`). */
export function shown(token) {
  const text = String(token);
  if (text.trim()) return text.replace(/^ /, "\u2423");
  return text
    .replaceAll(" ", "\u2423")
    .replaceAll("\n", "\u23ce")
    .replaceAll("\t", "\u21e5");
}

/** A number as text with `digits` decimals, or "n/a". */
export function fmt(value, digits = 3) {
  return value === null || value === undefined ? "n/a" : value.toFixed(digits);
}

/** Label positions 0, k, 2k, ... with about `minGap` pixels between. */
export function ticks(count, pixelsEach, minGap) {
  const every = Math.max(1, Math.ceil(minGap / pixelsEach));
  const nice = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];
  const step = nice.find((n) => n >= every) || every;
  const out = [];
  for (let i = 0; i < count; i += step) out.push(i);
  return out;
}

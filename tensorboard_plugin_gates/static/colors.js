// Colour maps (viridis for sigmoid gates on [0, 1], a blue-white-red map
// for values symmetric around 0) and one colour per gate for the charts.

const VIRIDIS = [
  [68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
  [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37],
];
const DIVERGING = [
  [33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [239, 138, 98], [178, 24, 43],
];
export const MASKED = [225, 225, 225];
export const NONFINITE = [255, 0, 255];

function interpolate(stops, t) {
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}

/** [r, g, b] of a value on [low, high]: viridis or the diverging map. */
export function rgb(value, low, high, sigmoid) {
  return interpolate(sigmoid ? VIRIDIS : DIVERGING, (value - low) / (high - low));
}

export function css([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

/** Text colour readable on a background [r, g, b]. */
export function ink([r, g, b]) {
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#111" : "#fff";
}

const GATE_COLOURS = {
  input: "#1f77b4", forget: "#ff7f0e", candidate: "#2ca02c", output: "#d62728",
  cell: "#9467bd", hidden: "#8c564b", update: "#e377c2", reset: "#17becf",
};

export function gateColour(gate) {
  return GATE_COLOURS[gate] || "#7f7f7f";
}

export const SELECTED = "#e6194b";
export const HIT = "#1b1b1b";

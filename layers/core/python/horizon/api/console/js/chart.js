// A small SVG line chart of windows [{start, value}], drawn by hand (no library).
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const clock = (iso) => iso.slice(11, 19);

/** Replace `container`'s content with the chart of `points` (sorted by time). */
export function drawChart(container, points, unit = "ms") {
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": "latency chart" });
  const times = points.map((p) => Date.parse(p.start));
  const values = points.map((p) => Number(p.value));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const top = Math.max(...values) * 1.1 || 1;
  const x = (t) => PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);

  root.append(svg("line", { class: "axis", x1: PAD.left, y1: y(0), x2: WIDTH - PAD.right, y2: y(0) }));
  root.append(svg("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: y(0) }));
  for (const fraction of [0, 0.5, 1]) {
    const v = top * fraction;
    root.append(svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, `${v.toFixed(0)} ${unit}`));
  }
  root.append(svg("text", { x: PAD.left, y: HEIGHT - 8 }, clock(points[0].start)));
  if (points.length > 1) {
    root.append(svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 8, "text-anchor": "end" }, clock(points.at(-1).start)));
  }
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(times[i]).toFixed(1)},${y(values[i]).toFixed(1)}`).join(" ");
  root.append(svg("path", { class: "line", d: path }));
  points.forEach((p, i) => {
    const dot = svg("circle", { class: "dot", cx: x(times[i]), cy: y(values[i]), r: 3 });
    dot.append(svg("title", {}, `${p.start}: ${values[i].toFixed(1)} ${unit} (${p.count} entries)`));
    root.append(dot);
  });
  container.replaceChildren(root);
}

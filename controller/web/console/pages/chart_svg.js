// The price history chart: an inline SVG built here (no chart library). A step line, since a
// price holds until the next change; one dot per change. Accessible: the SVG is an image with a
// title and a description that says the whole series in words, and the page shows the same
// history as a table beside it.
const kNs = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(kNs, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

// points: [{at: Date, cents: number}] oldest first (at least one). Returns an <svg> element.
// labels: {title, description, money(cents) -> text, date(Date) -> text, now: Date}
export function priceChart(points, labels) {
  const width = 560;
  const height = 220;
  const pad = { left: 64, right: 16, top: 16, bottom: 36 };
  const t0 = points[0].at.getTime();
  const tNow = Math.max(labels.now.getTime(), points[points.length - 1].at.getTime());
  const t1 = tNow > t0 ? tNow : t0 + 1;
  const values = points.map((p) => p.cents);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    lo = Math.max(0, lo - 100);
    hi += 100;
  }
  const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
  const y = (c) => pad.top + (1 - (c - lo) / (hi - lo)) * (height - pad.top - pad.bottom);

  let d = "";
  points.forEach((p, i) => {
    const px = x(p.at.getTime()).toFixed(1);
    const py = y(p.cents).toFixed(1);
    d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
  });
  d += `H${x(t1).toFixed(1)}`;

  const titleId = `chart-title-${Math.random().toString(36).slice(2, 8)}`;
  const descId = `${titleId}-desc`;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    class: "price-chart",
    role: "img",
    "aria-labelledby": titleId,
    "aria-describedby": descId,
    "data-testid": "price-chart",
  });
  root.append(svg("title", { id: titleId }, labels.title), svg("desc", { id: descId }, labels.description));
  const axes = svg("g", { class: "axes", "aria-hidden": "true" });
  const bottom = height - pad.bottom;
  axes.append(svg("line", { x1: pad.left, y1: bottom, x2: width - pad.right, y2: bottom }));
  axes.append(svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: bottom }));
  for (const c of [lo, (lo + hi) / 2, hi]) {
    axes.append(svg("line", { class: "grid", x1: pad.left, y1: y(c), x2: width - pad.right, y2: y(c) }));
    axes.append(svg("text", { x: pad.left - 6, y: y(c) + 4, "text-anchor": "end" }, labels.money(Math.round(c))));
  }
  axes.append(svg("text", { x: pad.left, y: height - 12, "text-anchor": "start" }, labels.date(new Date(t0))));
  axes.append(svg("text", { x: width - pad.right, y: height - 12, "text-anchor": "end" }, labels.date(new Date(t1))));
  root.append(axes);
  root.append(svg("path", { class: "line", d, fill: "none", "aria-hidden": "true" }));
  const dots = svg("g", { class: "dots", "aria-hidden": "true" });
  for (const p of points) {
    dots.append(svg("circle", { cx: x(p.at.getTime()), cy: y(p.cents), r: 4, "data-cents": p.cents }));
  }
  root.append(dots);
  return root;
}

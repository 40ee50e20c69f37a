// A small line chart in SVG: a few series over time, no library. Built from elements (no markup
// strings), so it runs under the console's CSP; a text summary beside it is what screen readers get.
import { h, replace, s } from './dom.js';

const WIDTH = 320;
const HEIGHT = 120;

/**
 * A chart card: `update(points)` redraws the series `keys` of `points` (nulls are skipped), the
 * newest at the right edge and `capacity` points across, so the time axis does not stretch as it fills.
 */
export function lineChart(title, series, format, capacity) {
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img', 'aria-label': title, preserveAspectRatio: 'none' });
  const summary = h('p', { class: 'chart-summary' }, 'Waiting for data…');
  const legend = h('ul', { class: 'legend' }, series.map(([, label], i) => h('li', { class: `series-${i}` }, label)));
  const card = h('section', { class: 'card chart-card', 'aria-label': title }, h('h2', {}, title), svg, legend, summary);
  const update = (points) => {
    const values = points.flatMap((p) => series.map(([key]) => p[key])).filter((v) => v !== null && Number.isFinite(v));
    const max = Math.max(...values, 1e-9) * 1.1;
    svg.replaceChildren(s('line', { x1: 0, y1: HEIGHT - 1, x2: WIDTH, y2: HEIGHT - 1, class: 'axis' }));
    const x = (j) => WIDTH - 4 - (points.length - 1 - j) * ((WIDTH - 8) / Math.max(capacity - 1, 1));
    const y = (v) => HEIGHT - 4 - (v / max) * (HEIGHT - 10);
    series.forEach(([key], i) => {
      const defined = points.map((p, j) => [j, p[key]]).filter(([, v]) => v !== null && Number.isFinite(v));
      if (defined.length > 1) svg.append(s('polyline', { points: defined.map(([j, v]) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(' '), class: `line series-${i}` }));
      const last = defined[defined.length - 1];
      if (last) svg.append(s('circle', { cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 2.5, class: `dot series-${i}` }));
    });
    svg.setAttribute('data-points', String(points.length));
    const last = points[points.length - 1];
    if (!last) return;
    const now = series.map(([key, label]) => `${label}: ${last[key] === null ? '—' : format(last[key])}`).join(' · ');
    replace(summary, values.length ? `${now} (top of the chart: ${format(max / 1.1)}; the last ${points.length} readings)` : now);
  };
  return { card, update };
}

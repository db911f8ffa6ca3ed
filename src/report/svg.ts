/**
 * Charts for the HTML report, drawn as inline SVG by hand (a polyline or bars, two axes,
 * a few labels), so the report stays one self-contained file that prints as it shows.
 * Every text is escaped.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const W = 520;
const H = 200;
const PAD = { left: 72, right: 16, top: 28, bottom: 36 };

/** One point of a time series. */
export interface SeriesPoint {
  /** Milliseconds since the epoch. */
  t: number;
  value: number;
  /** Drawn hollow (e.g. a failed attempt). */
  hollow?: boolean;
}

function frame(title: string, body: string, height = H): string {
  return (
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" role="img" ` +
    `aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title>` +
    `<text x="${PAD.left}" y="16" class="chart-title">${escapeHtml(title)}</text>` +
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" class="axis"/>` +
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" class="axis"/>` +
    body +
    '</svg>'
  );
}

const fx = (n: number) => n.toFixed(1);

function yAxis(max: number, format: (v: number) => string): string {
  const y0 = H - PAD.bottom;
  const ticks = [0, max / 2, max];
  return ticks
    .map((v) => {
      const y = y0 - (v / max) * (y0 - PAD.top);
      return (
        `<line x1="${PAD.left - 4}" y1="${fx(y)}" x2="${W - PAD.right}" y2="${fx(y)}" class="grid"/>` +
        `<text x="${PAD.left - 6}" y="${fx(y + 4)}" class="tick" text-anchor="end">${escapeHtml(format(v))}</text>`
      );
    })
    .join('');
}

/** A date, or a date and time when the span is short enough that days would all look alike. */
function when(t: number, span: number): string {
  const iso = new Date(t).toISOString();
  return span < 2 * 86_400_000 ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
}

/** A time series as a polyline with dots, time on x, `format`ted values on y. */
export function lineChart(
  title: string,
  points: readonly SeriesPoint[],
  format: (v: number) => string,
): string {
  if (points.length === 0)
    return frame(title, `<text x="${W / 2}" y="${H / 2}" class="tick" text-anchor="middle">no data</text>`);
  const ts = points.map((p) => p.t);
  const t0 = Math.min(...ts);
  const t1 = Math.max(...ts);
  const max = Math.max(...points.map((p) => p.value), 1e-9);
  const x = (t: number) =>
    t1 === t0
      ? (PAD.left + W - PAD.right) / 2
      : PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.bottom - PAD.top);
  const line = points.map((p) => `${fx(x(p.t))},${fx(y(p.value))}`).join(' ');
  const dots = points
    .map(
      (p) =>
        `<circle cx="${fx(x(p.t))}" cy="${fx(y(p.value))}" r="3" class="${p.hollow ? 'dot hollow' : 'dot'}">` +
        `<title>${escapeHtml(`${new Date(p.t).toISOString()}: ${format(p.value)}`)}</title></circle>`,
    )
    .join('');
  const xLabels =
    `<text x="${PAD.left}" y="${H - 12}" class="tick">${escapeHtml(when(t0, t1 - t0))}</text>` +
    (t1 === t0
      ? ''
      : `<text x="${W - PAD.right}" y="${H - 12}" class="tick" text-anchor="end">${escapeHtml(when(t1, t1 - t0))}</text>`);
  return frame(title, `${yAxis(max, format)}<polyline points="${line}" class="series"/>${dots}${xLabels}`);
}

/** One bar: a drill's restore time, with how it was obtained. */
export interface Bar {
  label: string;
  value: number;
  /** Forecast bars are drawn outlined (dashed), measured ones solid. */
  forecast: boolean;
  /** Over the limit: drawn red (solid red when measured, red outline when forecast). */
  miss: boolean;
}

/** The height of a bar chart: a row below the axis labels holds its legend. */
const BAR_H = H + 20;

/** The bar chart's legend: each kind of bar as it is drawn, and the limit line. */
function legend(limitLabel: string): string {
  const y = BAR_H - 8;
  const items: [string, string][] = [
    ['bar', 'measured'],
    ['bar forecast', 'forecast'],
    ['bar miss', 'measured, missed'],
    ['bar forecast miss', 'forecast, missed'],
  ];
  let x = 8;
  let out = '<g class="legend-items">';
  for (const [cls, label] of items) {
    out +=
      `<rect x="${x}" y="${y - 9}" width="10" height="10" class="${cls}"/>` +
      `<text x="${x + 14}" y="${y}" class="legend">${escapeHtml(label)}</text>`;
    // About 5.5 px a character at 10 px.
    x += 14 + Math.ceil(label.length * 5.5) + 12;
  }
  out +=
    `<line x1="${x}" y1="${y - 4}" x2="${x + 18}" y2="${y - 4}" class="limit"/>` +
    `<text x="${x + 22}" y="${y}" class="legend">${escapeHtml(limitLabel)}</text>`;
  return `${out}</g>`;
}

/**
 * Bars against a limit drawn as a dashed line (restore time against the RTO), with a legend:
 * measured bars solid, forecast bars outlined with a dashed stroke, bars over the limit red
 * (a forecast over the limit keeps its outline, so it never reads as a measured miss).
 */
export function barChart(
  title: string,
  bars: readonly Bar[],
  limit: number,
  limitLabel: string,
  format: (v: number) => string,
): string {
  if (bars.length === 0)
    return frame(
      title,
      `<text x="${W / 2}" y="${H / 2}" class="tick" text-anchor="middle">no drill in the period</text>`,
    );
  const max = Math.max(limit, ...bars.map((b) => b.value), 1e-9) * 1.1;
  const y = (v: number) => H - PAD.bottom - (v / max) * (H - PAD.bottom - PAD.top);
  const slot = (W - PAD.left - PAD.right) / bars.length;
  const width = Math.max(2, Math.min(40, slot * 0.6));
  const rects = bars
    .map((b, i) => {
      const cx = PAD.left + slot * (i + 0.5);
      // A restore of seconds against an RTO of hours would be invisible: at least 2 px tall.
      const top = Math.min(y(b.value), H - PAD.bottom - 2);
      const cls = `bar${b.forecast ? ' forecast' : ''}${b.miss ? ' miss' : ''}`;
      const what = `${b.forecast ? 'forecast' : 'measured'}${b.miss ? ', missed' : ''}`;
      return (
        `<rect x="${fx(cx - width / 2)}" y="${fx(top)}" width="${fx(width)}" height="${fx(H - PAD.bottom - top)}" class="${cls}">` +
        `<title>${escapeHtml(`${b.label}: ${format(b.value)} (${what})`)}</title></rect>` +
        `<text x="${fx(cx)}" y="${fx(top - 4)}" class="tick" text-anchor="middle">${escapeHtml(format(b.value))}</text>` +
        (bars.length <= 8
          ? `<text x="${fx(cx)}" y="${H - 12}" class="tick" text-anchor="middle">${escapeHtml(b.label)}</text>`
          : '')
      );
    })
    .join('');
  const ly = y(limit);
  const line =
    `<line x1="${PAD.left}" y1="${fx(ly)}" x2="${W - PAD.right}" y2="${fx(ly)}" class="limit"/>` +
    `<text x="${W - PAD.right}" y="${fx(ly - 4)}" class="tick" text-anchor="end">${escapeHtml(limitLabel)}</text>`;
  return frame(title, `${yAxis(max, format)}${rects}${line}${legend(limitLabel)}`, BAR_H);
}

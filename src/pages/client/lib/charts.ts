/**
 * The dashboard's charts, drawn by Chart.js (chart.js@4.6.1, bundled; no CDN).
 *
 * Why Chart.js rather than uPlot: the dashboard needs both hourly series (latency lines, requests as
 * bars stacked by status class) and categorical charts (requests per route; CTR and conversion per
 * variant and per placement with 95% interval whiskers).
 * Chart.js does both with one library — a category axis of hour labels (no date adapter needed) and
 * grouped bars, with the whiskers as a small plugin below — where uPlot, built for time series, would
 * need hand-written bar and axis code for the categorical charts. It is MIT-licensed, very widely
 * used and actively released, tree-shakes to the controllers registered here, needs no stylesheet,
 * and draws on a canvas touching styles only through the CSSOM, so the pages' strict CSP (no
 * 'unsafe-inline') holds.
 *
 * Every chart writes what it holds to its canvas's `data-chart` attribute (labels, series, intervals),
 * read back from the Chart.js instance itself: the end-to-end tests compare it with the API's answer.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  type Plugin,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

/** A 95% interval as the reports give it (rates as fractions). */
export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

const charts = new Map<string, Chart>();
/** The intervals of each dataset of an interval chart, for the whisker plugin (in the chart's units). */
const whiskerData = new WeakMap<Chart, ({ low: number; high: number } | null)[][]>();

/** Draws each bar's interval as a whisker (a vertical line with caps) over the bar. */
const whiskers: Plugin<'bar'> = {
  id: 'whiskers',
  afterDatasetsDraw(chart) {
    const intervals = whiskerData.get(chart as unknown as Chart);
    if (!intervals) return;
    const { ctx } = chart;
    const y = chart.scales.y;
    ctx.save();
    ctx.strokeStyle = '#1d2330';
    ctx.lineWidth = 1.5;
    intervals.forEach((series, i) => {
      const meta = chart.getDatasetMeta(i);
      if (!chart.isDatasetVisible(i)) return;
      series.forEach((iv, j) => {
        const bar = meta.data[j] as unknown as { x: number; width: number } | undefined;
        if (!iv || !bar) return;
        const top = y.getPixelForValue(iv.high);
        const bottom = y.getPixelForValue(iv.low);
        const cap = Math.min(8, bar.width / 4);
        ctx.beginPath();
        ctx.moveTo(bar.x, top);
        ctx.lineTo(bar.x, bottom);
        ctx.moveTo(bar.x - cap, top);
        ctx.lineTo(bar.x + cap, top);
        ctx.moveTo(bar.x - cap, bottom);
        ctx.lineTo(bar.x + cap, bottom);
        ctx.stroke();
      });
    });
    ctx.restore();
  },
};

function place(canvas: HTMLCanvasElement, chart: Chart, extra: Record<string, unknown> = {}): void {
  charts.set(canvas.id, chart);
  canvas.dataset.chart = JSON.stringify({
    labels: chart.data.labels,
    datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data })),
    ...extra,
  });
}

/** Removes a chart (sign-out, or new data): the canvas is blank and says it holds nothing. */
export function clearChart(canvas: HTMLCanvasElement): void {
  charts.get(canvas.id)?.destroy();
  charts.delete(canvas.id);
  delete canvas.dataset.chart;
}

export interface Series {
  label: string;
  data: (number | null)[];
  color: string;
}

/** Hourly lines over a category axis of hour labels; nulls (hours without requests) are gaps, not zeros. */
export function seriesChart(canvas: HTMLCanvasElement, labels: string[], series: Series[], yTitle: string): void {
  clearChart(canvas);
  const chart = new Chart(canvas, {
    type: 'line',
    data: {
      labels,
      datasets: series.map((s) => ({
        label: s.label,
        data: s.data,
        borderColor: s.color,
        backgroundColor: s.color,
        // a lone hour with requests between empty ones is still visible as a point
        pointRadius: labels.length > 48 ? 1.5 : 2.5,
        borderWidth: 2,
        spanGaps: false,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: { ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: 12 } },
        y: { beginAtZero: true, title: { display: true, text: yTitle } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  place(canvas, chart as unknown as Chart);
}

/**
 * Counts stacked per category: requests per hour by status class, or per route (`horizontal`, one
 * bar per route, so long route names stay readable).
 */
export function stackedBarChart(
  canvas: HTMLCanvasElement,
  labels: string[],
  series: Series[],
  axisTitle: string,
  horizontal = false,
): void {
  clearChart(canvas);
  const chart = new Chart(canvas, {
    type: 'bar',
    data: {
      labels,
      datasets: series.map((s) => ({
        label: s.label,
        data: s.data,
        backgroundColor: `${s.color}cc`,
        borderColor: s.color,
        borderWidth: 1,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      indexAxis: horizontal ? 'y' : 'x',
      interaction: { mode: 'index', intersect: false },
      scales: {
        x: horizontal
          ? { stacked: true, beginAtZero: true, title: { display: true, text: axisTitle } }
          : { stacked: true, ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: 12 } },
        // every route named: a skipped label would leave a bar nobody can read
        y: horizontal
          ? { stacked: true, ticks: { autoSkip: false } }
          : { stacked: true, beginAtZero: true, title: { display: true, text: axisTitle } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  place(canvas, chart as unknown as Chart);
}

export interface IntervalSeries {
  label: string;
  color: string;
  /** one per category; null where the rate has no data (nothing shown yet) */
  values: (Interval | null)[];
}

/**
 * Grouped bars of rates per category (variants, placements) in percent, each with its 95% interval
 * as a whisker; the axis reaches the highest interval end.
 */
export function intervalChart(canvas: HTMLCanvasElement, categories: string[], series: IntervalSeries[]): void {
  clearChart(canvas);
  const pct = (x: number) => Math.round(x * 1e6) / 1e4;
  const intervals = series.map((s) => s.values.map((v) => (v ? { low: pct(v.low), high: pct(v.high) } : null)));
  const top = Math.max(0, ...intervals.flat().map((v) => v?.high ?? 0));
  const chart = new Chart(canvas, {
    type: 'bar',
    data: {
      labels: categories,
      datasets: series.map((s) => ({
        label: s.label,
        data: s.values.map((v) => (v ? pct(v.estimate) : null)),
        backgroundColor: `${s.color}b3`,
        borderColor: s.color,
        borderWidth: 1,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        y: { beginAtZero: true, suggestedMax: top > 0 ? top * 1.08 : 1, title: { display: true, text: '% (95% interval)' } },
      },
      plugins: {
        legend: { position: 'bottom' },
        tooltip: {
          callbacks: {
            label: (item) => {
              const iv = intervals[item.datasetIndex]?.[item.dataIndex];
              const v = item.parsed.y;
              return iv && v !== null
                ? `${item.dataset.label}: ${v.toFixed(2)}% (95%: ${iv.low.toFixed(2)}–${iv.high.toFixed(2)}%)`
                : `${item.dataset.label}: no data`;
            },
          },
        },
      },
    },
    plugins: [whiskers],
  });
  whiskerData.set(chart as unknown as Chart, intervals);
  place(canvas, chart as unknown as Chart, { intervals });
}

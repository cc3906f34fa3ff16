/** Pictures of an evaluation: accuracy, KL divergence, attention-output error and KV bytes against the compression ratio. */

import type { CellStats } from "../summary.ts";
import { renderSvg } from "./render.ts";

/** The figures a chart can plot against the ratio. */
export type ChartMetric = "accuracy" | "kl" | "attentionError" | "kvFraction";

const TITLES: Record<ChartMetric, { title: string; axis: string; format: string; note?: string }> = {
  accuracy: {
    title: "Accuracy vs compression ratio",
    axis: "accuracy",
    format: ".0%",
    note: "dashed: the full cache",
  },
  kl: {
    title: "KL divergence of the first answer token to the full cache",
    axis: "KL (nats, log scale)",
    format: ".0e",
  },
  attentionError: {
    title: "Attention-output relative error at the question's last token",
    axis: "relative error (mean over layers)",
    format: ".2f",
  },
  kvFraction: {
    title: "KV cache bytes after decoding vs compression ratio",
    axis: "KV bytes / full cache",
    format: ".0%",
    note: "black ticks: 1 - ratio, the context's share kept (the rest is room for the question and answer)",
  },
};

/** Distinct colours for up to 14 presses (Tableau 10, then four darker ones), so a sweep's presses never share one. */
const PALETTE = [
  "#4c78a8",
  "#f58518",
  "#54a24b",
  "#b279a2",
  "#9d755d",
  "#e45756",
  "#72b7b2",
  "#eeca3b",
  "#ff9da6",
  "#bab0ac",
  "#1b3a6b",
  "#8c2d04",
  "#00441b",
  "#49006a",
];

/** The chart's subtitle lines: the caller's, then the metric's note. */
function subtitles(metric: ChartMetric, subtitle?: string): string[] {
  return [subtitle, TITLES[metric].note].filter((s): s is string => s !== undefined);
}

/** Query-aware presses carry this suffix (see `byProtocol`); they share their press's colour. */
const AWARE = " [aware]";

/** Per row: `base`, the press without its protocol suffix, and `protocol`, for colour and dash. */
const PROTOCOL_FIELDS = [
  { calculate: `replace(datum.press, '${AWARE}', '')`, as: "base" },
  { calculate: `indexof(datum.press, '${AWARE}') >= 0 ? 'query-aware' : 'query-agnostic'`, as: "protocol" },
];

/**
 * A fixed colour per press, in the order given, shared by its query-agnostic and
 * query-aware rows (`full` is drawn apart, as a dashed grey rule).
 */
function colorOf(presses: readonly string[]) {
  const domain = [...new Set(presses.filter((p) => p !== "full").map((p) => p.replace(AWARE, "")))];
  return {
    field: "base",
    type: "nominal",
    title: "press",
    sort: domain,
    scale: { domain, range: domain.map((_, i) => PALETTE[i % PALETTE.length]) },
    legend: { labelLimit: 400 },
  };
}

/** Solid lines for query-agnostic presses, dashed for query-aware ones (no legend when there is one protocol). */
function dashOf(presses: readonly string[]) {
  const both = presses.some((p) => p.endsWith(AWARE));
  return {
    field: "protocol",
    type: "nominal",
    title: "protocol",
    scale: { domain: ["query-agnostic", "query-aware"], range: [[1, 0], [5, 3]] },
    ...(both ? {} : { legend: null }),
  };
}

/** The presses and the ratios of the compressing ones, in order. */
function axesOf(values: readonly CellStats[]): { presses: string[]; ratios: number[] } {
  return {
    presses: [...new Set(values.map((s) => s.press))],
    ratios: [...new Set(values.filter((s) => s.press !== "full").map((s) => s.ratio))].sort((a, b) => a - b),
  };
}

/** The layers of one panel: each press's line and points, and `full` as a dashed rule for accuracy. */
function panelLayers(metric: ChartMetric, presses: readonly string[], ratios: readonly number[]) {
  const { format, axis } = TITLES[metric];
  const x = {
    field: "ratio",
    type: "quantitative",
    title: "compression ratio",
    scale: { domain: [Math.min(...ratios) - 0.05, Math.max(...ratios) + 0.05] },
    axis: { values: ratios, format: ".0%" },
  };
  const scale = metric === "kl"
    ? { type: "log" }
    : metric === "accuracy"
    ? { domain: [0, 1] }
    : { zero: true };
  const y = { field: metric, type: "quantitative", title: axis, axis: { format }, scale };
  const color = colorOf(presses);
  const compressed = [
    { filter: metric === "kl" ? "datum.press !== 'full' && datum.kl > 0" : "datum.press !== 'full'" },
    ...PROTOCOL_FIELDS,
  ];
  const layers: Record<string, unknown>[] = [
    {
      transform: compressed,
      mark: { type: "line", strokeWidth: 2 },
      encoding: { x, y, color, strokeDash: dashOf(presses), detail: { field: "press" } },
    },
    {
      transform: compressed,
      mark: { type: "point", filled: true, size: 40 },
      encoding: { x, y, color, tooltip: [{ field: "press" }, { field: "ratio" }, { field: metric, format }] },
    },
  ];
  if (metric === "accuracy") {
    layers.push({
      transform: [{ filter: "datum.press === 'full'" }],
      mark: { type: "rule", strokeDash: [6, 4], color: "#888", strokeWidth: 1.5 },
      encoding: { y: { field: metric, type: "quantitative" } },
    });
  }
  return layers;
}

/**
 * One metric of the averages over tasks (`task === "average"`) against the ratio: a line
 * per press for accuracy (with `full` as a dashed rule), KL (log scale, full's zero left
 * out) and attention-output error; grouped bars with a tick at `1 - ratio` for KV bytes
 * (every press keeps the same total, so lines would hide each other).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("accuracy.svg", await metricSvg(cellStats(cells), "accuracy", "models/tiny"));
 * ```
 */
export function metricSvg(
  stats: readonly CellStats[],
  metric: ChartMetric,
  subtitle?: string,
): Promise<string> {
  const values = stats.filter((s) => s.task === "average");
  const { presses, ratios } = axesOf(values);
  const suffix = metric === "accuracy" ? ", mean over tasks" : "";
  const title = {
    text: TITLES[metric].title + suffix,
    subtitle: subtitles(metric, subtitle),
    anchor: "start",
  };
  if (metric !== "kvFraction") {
    return renderSvg({
      title,
      width: 420,
      height: 280,
      data: { values },
      layer: panelLayers(metric, presses, ratios),
    });
  }
  const { axis, format } = TITLES.kvFraction;
  const x = {
    field: "ratio",
    type: "ordinal",
    title: "compression ratio",
    axis: { format: ".0%", labelAngle: 0 },
  };
  return renderSvg({
    title,
    width: 420,
    height: 280,
    layer: [
      {
        data: { values: values.filter((s) => s.press !== "full") },
        transform: PROTOCOL_FIELDS,
        mark: "bar",
        encoding: {
          x,
          xOffset: { field: "press", type: "nominal", sort: presses },
          y: {
            field: "kvFraction",
            type: "quantitative",
            title: axis,
            axis: { format },
            scale: { domain: [0, 1] },
          },
          color: colorOf(presses),
          tooltip: [{ field: "press" }, { field: "ratio" }, { field: "kvFraction", format }, {
            field: "kvBytes",
          }],
        },
      },
      {
        data: { values: ratios.map((ratio) => ({ ratio, ideal: 1 - ratio })) },
        mark: { type: "tick", color: "black", thickness: 2 },
        encoding: { x, y: { field: "ideal", type: "quantitative" } },
      },
    ],
  });
}

/**
 * Accuracy against the ratio for every task, one small panel each, a line per press and
 * `full` as a dashed rule.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("accuracy_tasks.svg", await accuracyByTaskSvg(cellStats(cells), "models/tiny"));
 * ```
 */
export function accuracyByTaskSvg(stats: readonly CellStats[], subtitle?: string): Promise<string> {
  const values = stats.filter((s) => s.task !== "average");
  const tasks = [...new Set(values.map((s) => s.task))];
  const { presses, ratios } = axesOf(values);
  return renderSvg({
    title: {
      text: "Accuracy vs compression ratio, per task",
      subtitle: subtitles("accuracy", subtitle),
      anchor: "start",
    },
    data: { values },
    facet: { field: "task", type: "nominal", title: null, sort: tasks },
    columns: Math.min(4, tasks.length),
    spec: { width: 190, height: 150, layer: panelLayers("accuracy", presses, ratios) },
  });
}

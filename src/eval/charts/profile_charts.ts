/** Pictures of an LU-KV profile: per-head keep ratios at a few compression ratios, and contrasting heads' utility curves. */

import type { BudgetTable, HeadTable } from "../../lukv/tables.ts";
import { headHeatmapSvg } from "./head_heatmap.ts";
import { renderSvg } from "./render.ts";

/**
 * A heatmap of the keep ratio `1 - prune` of every (layer, KV head) at compression
 * ratios 50%, 80% and 90%, side by side.
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("keep.svg", await keepHeatmapSvg(profile.budgets, "models/tiny, snapkv"));
 * ```
 */
export function keepHeatmapSvg(budgets: BudgetTable, title: string): Promise<string> {
  const { layers, heads, prune } = budgets;
  const cells = [50, 80, 90].flatMap((percent) =>
    Array.from({ length: layers * heads }, (_, i) => ({
      panel: `${percent}% compression`,
      layer: Math.floor(i / heads),
      head: i % heads,
      value: 1 - prune[(percent - 1) * layers * heads + i],
    }))
  );
  return headHeatmapSvg(cells, { title: `Per-head keep ratio (${title})`, legend: "kept", domain: [0, 1] });
}

/**
 * The cumulative oracle loss of evicting a head's tokens in score order (lowest first),
 * for the heads that are most and least costly to compress at 80%, from one
 * calibration pair: why LU-KV gives them different budgets.
 *
 * @param oracle `[L, H, T]` of one pair; `scores` the same pair's scores
 * @example
 * ```ts
 * await Deno.writeTextFile("curves.svg", await utilityCurvesSvg(run.oracles[0], run.scores[0], budgets, 4, 32));
 * ```
 */
export function utilityCurvesSvg(
  oracle: HeadTable,
  scores: HeadTable,
  budgets: BudgetTable,
  sink: number,
  window: number,
): Promise<string> {
  const { layers, heads, length } = oracle;
  const row = 79 * layers * heads;
  const order = Array.from({ length: layers * heads }, (_, i) => i).sort((a, b) =>
    budgets.prune[row + a] - budgets.prune[row + b]
  );
  const picked = [...order.slice(0, 2), ...order.slice(-2)];
  const values = picked.flatMap((head) => {
    const base = head * length;
    const positions = Array.from({ length: length - sink - window }, (_, i) => sink + i)
      .sort((a, b) => scores.data[base + b] - scores.data[base + a] || a - b);
    const total = positions.reduce((sum, j) => sum + oracle.data[base + j], 0) || 1;
    let cum = 0;
    const label = `layer ${Math.floor(head / heads)} head ${head % heads} (keeps ${
      (100 * (1 - budgets.prune[row + head])).toFixed(0)
    }% at 80%)`;
    const points = [{ head: label, evicted: 0, loss: 0 }];
    for (let e = 1; e <= positions.length; e++) {
      cum += oracle.data[base + positions[positions.length - e]];
      points.push({ head: label, evicted: e / positions.length, loss: cum / total });
    }
    return points;
  });
  return renderSvg({
    title: { text: "Oracle utility lost by evicting in score order", anchor: "start" },
    width: 420,
    height: 260,
    data: { values },
    mark: { type: "line", interpolate: "step-after" },
    encoding: {
      x: { field: "evicted", type: "quantitative", title: "fraction of evictable tokens evicted" },
      y: { field: "loss", type: "quantitative", title: "fraction of oracle utility lost" },
      color: {
        field: "head",
        type: "nominal",
        title: null,
        legend: { labelLimit: 400, orient: "bottom", columns: 1 },
      },
    },
  });
}

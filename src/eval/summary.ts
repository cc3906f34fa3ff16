/** Aggregates of evaluation cells: per (task, press, ratio), averaged over tasks, and the plain-text summary table. */

import type { EvalCell } from "./results.ts";

/**
 * Means over the cells of one (task, press, ratio), or of one (press, ratio) averaged
 * over tasks (each task weighs the same, whatever its sample count).
 */
export interface CellStats {
  /** Task name, or `"average"` over tasks. */
  task: string;
  /** Press label. */
  press: string;
  /** Compression ratio (0 for `full`). */
  ratio: number;
  /** The press's token scorer (`none` for `full`). */
  scorer: string;
  /** Samples behind the figure (summed over tasks for an average). */
  samples: number;
  /** Share of correct answers. */
  accuracy: number;
  /** Mean KL divergence of the first answer token (nats). */
  kl: number;
  /** Mean attention-output relative error. */
  attentionError: number;
  /** Mean fraction of the context's KV pairs kept. */
  kept: number;
  /** Mean KV bytes held. */
  kvBytes: number;
  /** Mean KV bytes as a fraction of the full cache's. */
  kvFraction: number;
}

/** The tasks, presses and ratios of a set of cells, in order of first appearance (`full` first). */
export interface CellAxes {
  /** Task names. */
  tasks: string[];
  /** Press labels, `full` first when present. */
  presses: string[];
  /** Ratios of the compressing presses, ascending. */
  ratios: number[];
}

/**
 * The tasks, presses and ratios present.
 *
 * @example
 * ```ts
 * axes(cells); // { tasks: ["needle"], presses: ["full", "snapkv"], ratios: [0.5, 0.8] }
 * ```
 */
export function axes(cells: readonly EvalCell[]): CellAxes {
  const unique = <T>(values: T[]) => [...new Set(values)];
  const presses = unique(cells.map((c) => c.press));
  return {
    tasks: unique(cells.map((c) => c.task)),
    presses: [...presses.filter((p) => p === "full"), ...presses.filter((p) => p !== "full")],
    ratios: unique(cells.filter((c) => c.press !== "full").map((c) => c.ratio)).sort((a, b) => a - b),
  };
}

/**
 * Per (task, press, ratio) means, then per (press, ratio) averages over tasks (task
 * `"average"`, only over tasks that have the press at that ratio).
 *
 * @example
 * ```ts
 * const stats = cellStats(cells);
 * stats.find((s) => s.task === "average" && s.press === "snapkv" && s.ratio === 0.8)?.accuracy; // 0.74
 * ```
 */
export function cellStats(cells: readonly EvalCell[]): CellStats[] {
  const groups = new Map<string, EvalCell[]>();
  for (const cell of cells) {
    const key = JSON.stringify([cell.task, cell.press, cell.ratio]);
    const group = groups.get(key);
    if (group) group.push(cell);
    else groups.set(key, [cell]);
  }
  const perTask: CellStats[] = [...groups.values()].map((group) => {
    const mean = (f: (c: EvalCell) => number) => group.reduce((sum, c) => sum + f(c), 0) / group.length;
    return {
      task: group[0].task,
      press: group[0].press,
      ratio: group[0].ratio,
      scorer: group[0].scorer,
      samples: group.length,
      accuracy: mean((c) => Number(c.correct)),
      kl: mean((c) => c.kl),
      attentionError: mean((c) => c.attentionError),
      kept: mean((c) => c.kept),
      kvBytes: mean((c) => c.kvBytes),
      kvFraction: mean((c) => c.kvBytes / c.kvBytesFull),
    };
  });
  const { presses, ratios } = axes(cells);
  const averages: CellStats[] = [];
  for (const press of presses) {
    for (const ratio of press === "full" ? [0] : ratios) {
      const rows = perTask.filter((s) => s.press === press && s.ratio === ratio);
      if (rows.length === 0) continue;
      const mean = (f: (s: CellStats) => number) => rows.reduce((sum, s) => sum + f(s), 0) / rows.length;
      averages.push({
        task: "average",
        press,
        ratio,
        scorer: rows[0].scorer,
        samples: rows.reduce((n, s) => n + s.samples, 0),
        accuracy: mean((s) => s.accuracy),
        kl: mean((s) => s.kl),
        attentionError: mean((s) => s.attentionError),
        kept: mean((s) => s.kept),
        kvBytes: mean((s) => s.kvBytes),
        kvFraction: mean((s) => s.kvFraction),
      });
    }
  }
  return [...perTask, ...averages];
}

/**
 * A plain-text table of the averages over tasks: one row per press and ratio, with
 * accuracy, KL, attention-output error and KV bytes (as a share of the full cache's).
 *
 * @example
 * ```ts
 * console.log(summaryTable(results.cells));
 * // press                    ratio  accuracy        KL  attn err  KV bytes
 * // full                         -     62.0%    0.0000     0.000    100.0%
 * // snapkv                     0.5     58.0%    0.0012     0.170     51.0%
 * ```
 */
export function summaryTable(cells: readonly EvalCell[]): string {
  const rows = cellStats(cells).filter((s) => s.task === "average");
  const width = Math.max(24, ...rows.map((s) => s.press.length + 1));
  const line = (cols: string[]) =>
    cols[0].padEnd(width) + cols.slice(1).map((c, i) => c.padStart(i === 0 ? 5 : 10)).join("");
  return [
    line(["press", "ratio", "accuracy", "KL", "attn err", "KV bytes"]),
    ...rows.map((s) =>
      line([
        s.press,
        s.press === "full" ? "-" : String(s.ratio),
        `${(100 * s.accuracy).toFixed(1)}%`,
        s.kl.toFixed(4),
        s.attentionError.toFixed(3),
        `${(100 * s.kvFraction).toFixed(1)}%`,
      ])
    ),
  ].join("\n");
}

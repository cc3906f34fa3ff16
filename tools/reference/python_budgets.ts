/** Runs the Python/numpy heap reference (lukv_budgets.py) on .npy tables and compares its output with lukv's. */

import type { EvictionCurves } from "../../src/lukv/curves.ts";
import { readNpy } from "../../src/lukv/npy.ts";
import type { BudgetTable } from "../../src/lukv/tables.ts";

const SCRIPT = new URL("./lukv_budgets.py", import.meta.url).pathname;

/** Debian's interpreter, which has numpy (`apt-get install python3-numpy`). */
export const PYTHON = "/usr/bin/python3";

/** What one run of the reference reports, in milliseconds, timed inside its own process. */
export interface ReferenceTimes {
  /** Curves + solve alone. */
  computeMs: number;
  /** Curves + solve plus reading both .npy tables (interpreter start-up and imports excluded). */
  totalMs: number;
}

/** The reference's results as lukv's layouts: hull segments and the `[99, L, H]` prune ratios. */
export interface ReferenceOutput {
  offsets: Float64Array;
  slopes: Float64Array;
  lengths: Float64Array;
  prune: Float64Array;
}

/** Inputs of one run: the two `[L, H, T]` tables and the solver's settings. */
export interface ReferenceRun {
  oracle: string;
  scores: string;
  sink: number;
  window: number;
  scope?: "global" | "layer";
  minKeepFraction?: number;
}

/**
 * Runs `lukv_budgets.py` once; with `outDir`, also reads back the curves and table it wrote.
 *
 * @example
 * ```ts
 * const { times } = await runReference({ oracle: "O.npy", scores: "S.npy", sink: 4, window: 32 });
 * console.log(times.computeMs); // ~1200 on a 32 x 8 x 4096 pair
 * ```
 */
export async function runReference(
  run: ReferenceRun,
  outDir?: string,
): Promise<{ times: ReferenceTimes; output?: ReferenceOutput }> {
  const { oracle, scores, sink, window, scope = "global", minKeepFraction = 0.01 } = run;
  const args = [SCRIPT, "--oracle", oracle, "--scores", scores, "--sink", `${sink}`, "--window", `${window}`];
  args.push("--scope", scope, "--min-keep", `${minKeepFraction}`);
  if (outDir !== undefined) args.push("--out-dir", outDir);
  const { code, stdout, stderr } = await new Deno.Command(PYTHON, { args }).output();
  if (code !== 0) {
    throw new Error(`${PYTHON} ${args.join(" ")} exited ${code}:\n${new TextDecoder().decode(stderr)}`);
  }
  const { compute_ms, total_ms } = JSON.parse(new TextDecoder().decode(stdout));
  const times = { computeMs: compute_ms, totalMs: total_ms };
  if (outDir === undefined) return { times };
  const read = async (name: string) =>
    Float64Array.from(readNpy(await Deno.readFile(`${outDir}/${name}.npy`)).data);
  return {
    times,
    output: {
      offsets: await read("offsets"),
      slopes: await read("slopes"),
      lengths: await read("lengths"),
      prune: await read("prune"),
    },
  };
}

/**
 * The first difference between lukv's curves and table and the reference's, or
 * `undefined` when they are identical bit for bit (every float compared with `Object.is`).
 *
 * @example
 * ```ts
 * const diff = firstDifference(curves, table, output);
 * if (diff) throw new Error(diff); // e.g. "slopes[17]: lukv 0.0123 vs reference 0.0124"
 * ```
 */
export function firstDifference(
  curves: EvictionCurves,
  table: BudgetTable,
  reference: ReferenceOutput,
): string | undefined {
  const pairs: [string, ArrayLike<number>, ArrayLike<number>][] = [
    ["offsets", curves.offsets, reference.offsets],
    ["slopes", curves.slopes, reference.slopes],
    ["lengths", curves.lengths, reference.lengths],
    ["prune", table.prune, reference.prune],
  ];
  for (const [name, ours, theirs] of pairs) {
    if (ours.length !== theirs.length) {
      return `${name}: lukv has ${ours.length} values, the reference ${theirs.length}`;
    }
    for (let i = 0; i < ours.length; i++) {
      if (!Object.is(ours[i], theirs[i])) return `${name}[${i}]: lukv ${ours[i]} vs reference ${theirs[i]}`;
    }
  }
  return undefined;
}

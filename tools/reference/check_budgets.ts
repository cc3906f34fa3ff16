/**
 * Checks lukv's evictionCurves + solveBudgets against the Python/numpy heap reference
 * (lukv_budgets.py): on each instance below, the hull segments and the `[99, L, H]`
 * table must be identical bit for bit. Needs /usr/bin/python3 with numpy.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run tools/reference/check_budgets.ts
 * ```
 *
 * @module
 */

import { evictionCurves } from "../../src/lukv/curves.ts";
import { solveBudgets } from "../../src/lukv/solver.ts";
import { writeHeadTableNpy } from "../../src/lukv/table_npy.ts";
import type { HeadTable } from "../../src/lukv/tables.ts";
import { random } from "../../tests/backend/reference.ts";
import { randomInstance } from "../../tests/lukv/instances.ts";
import { firstDifference, runReference } from "./python_budgets.ts";

/** The same table in float64 with noise below float32 precision, so no value is a float32. */
function float64Noisy(table: HeadTable, seed: number): HeadTable {
  const rand = random(seed);
  return { ...table, data: Float64Array.from(table.data, (v) => Math.abs(v + 1e-9 * rand())) };
}

const cases: {
  name: string;
  oracle: HeadTable;
  scores: HeadTable;
  sink: number;
  window: number;
  scope: "global" | "layer";
  minKeepFraction: number;
}[] = [];
{
  const { oracle, scores } = randomInstance(1, 4, 2, 300);
  cases.push({
    name: "4x2x300, global",
    oracle,
    scores,
    sink: 4,
    window: 32,
    scope: "global",
    minKeepFraction: 0.01,
  });
}
{
  const { oracle, scores } = randomInstance(2, 3, 4, 200, true);
  cases.push({
    name: "3x4x200 with ties, per layer, min keep 0.3",
    oracle,
    scores,
    sink: 2,
    window: 5,
    scope: "layer",
    minKeepFraction: 0.3,
  });
}
{
  const { oracle, scores } = randomInstance(3, 2, 3, 150);
  cases.push({
    name: "2x3x150 float64 (comparator ranking)",
    oracle: float64Noisy(oracle, 4),
    scores: float64Noisy(scores, 5),
    sink: 0,
    window: 0,
    scope: "global",
    minKeepFraction: 0.01,
  });
}
{
  const { oracle, scores } = randomInstance(4096, 32, 8, 4096);
  cases.push({
    name: "32x8x4096 (the bench pair)",
    oracle,
    scores,
    sink: 4,
    window: 32,
    scope: "global",
    minKeepFraction: 0.01,
  });
}

const dir = await Deno.makeTempDir({ prefix: "lukv-check-budgets-" });
let failures = 0;
try {
  for (const { name, oracle, scores, sink, window, scope, minKeepFraction } of cases) {
    const oPath = `${dir}/oracle.npy`, sPath = `${dir}/scores.npy`;
    await Deno.writeFile(oPath, writeHeadTableNpy(oracle));
    await Deno.writeFile(sPath, writeHeadTableNpy(scores));
    const curves = evictionCurves(oracle, scores, { sink, window });
    const table = solveBudgets(curves, { scope, minKeepFraction });
    const { output } = await runReference(
      { oracle: oPath, scores: sPath, sink, window, scope, minKeepFraction },
      `${dir}/out`,
    );
    const diff = firstDifference(curves, table, output!);
    console.log(
      `${diff ? "FAIL" : "ok  "} ${name}: ${curves.slopes.length} segments${diff ? `; ${diff}` : ""}`,
    );
    if (diff) failures++;
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
if (failures > 0) Deno.exit(1);

/**
 * LU-KV curves + solve on one 32 x 8 x 4096 (oracle, scores) pair: lukv in process
 * against the Python/numpy heap reference (tools/reference/lukv_budgets.py), as a
 * ratio "x times faster than Python". The two run in interleaved rounds, so a busy
 * spell on the shared machine hits both; each round times lukv inside this process
 * (after warm-up) and the reference inside its own (its computation only, as it
 * reports it), and the report gives the median and range of the per-round ratios,
 * with and without reading the two .npy tables. The outputs are first checked equal
 * bit for bit. Needs /usr/bin/python3 with numpy.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run bench/curves_vs_python.ts [--rounds 7] [--out report.md]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { evictionCurves } from "../src/lukv/curves.ts";
import { solveBudgets } from "../src/lukv/solver.ts";
import { readHeadTableNpy, writeHeadTableNpy } from "../src/lukv/table_npy.ts";
import type { HeadTable } from "../src/lukv/tables.ts";
import { randomInstance } from "../tests/lukv/instances.ts";
import { firstDifference, PYTHON, runReference } from "../tools/reference/python_budgets.ts";
import { median, medianRange } from "./stats.ts";

const LAYERS = 32, HEADS = 8, LENGTH = 4096, SEED = 4096;
const PROTECTION = { sink: 4, window: 32 };
const CALLS = 5;

/** lukv's curves + solve, what the ratio's denominator times. */
function lukv(oracle: HeadTable, scores: HeadTable) {
  const curves = evictionCurves(oracle, scores, PROTECTION);
  return { curves, table: solveBudgets(curves) };
}

/** Milliseconds `run` takes. */
async function timed(run: () => unknown): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

async function shell(command: string, args: string[]): Promise<string> {
  const { stdout } = await new Deno.Command(command, { args }).output();
  return new TextDecoder().decode(stdout).trim();
}

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "7" }, out: { type: "string" } },
});
const rounds = Number(values.rounds);
if (!Number.isSafeInteger(rounds) || rounds < 1) throw new RangeError(`--rounds needs a positive integer`);

const dir = await Deno.makeTempDir({ prefix: "lukv-curves-vs-python-" });
const oPath = `${dir}/oracle.npy`, sPath = `${dir}/scores.npy`;
const pair = randomInstance(SEED, LAYERS, HEADS, LENGTH);
await Deno.writeFile(oPath, writeHeadTableNpy(pair.oracle));
await Deno.writeFile(sPath, writeHeadTableNpy(pair.scores));
const run = { oracle: oPath, scores: sPath, ...PROTECTION };
const loadBefore = await shell("uptime", []);

const ours = lukv(pair.oracle, pair.scores);
const { output } = await runReference(run, `${dir}/out`);
const diff = firstDifference(ours.curves, ours.table, output!);
if (diff) throw new Error(`lukv and the Python reference disagree: ${diff}`);
for (let i = 0; i < 5; i++) lukv(pair.oracle, pair.scores); // warm-up: let V8 optimise the hot loops

const rows: { lukv: number; lukvIo: number; python: number; pythonIo: number; pythonProcess: number }[] = [];
for (let r = 0; r < rounds; r++) {
  // lukv's call is ~30x shorter than the reference's run, so one descheduling on the
  // shared machine could decide a round: each round takes the median of CALLS calls.
  const ourRound = async () => {
    const compute: number[] = [], withIo: number[] = [];
    for (let call = 0; call < CALLS; call++) {
      compute.push(await timed(() => lukv(pair.oracle, pair.scores)));
      withIo.push(
        await timed(async () => {
          const oracle = readHeadTableNpy(await Deno.readFile(oPath), { kind: "oracle" });
          const scores = readHeadTableNpy(await Deno.readFile(sPath), { kind: "scores" });
          lukv(oracle, scores);
        }),
      );
    }
    return { compute: median(compute), withIo: median(withIo) };
  };
  const theirRound = async () => {
    let times = { computeMs: NaN, totalMs: NaN };
    const process = await timed(async () => ({ times } = await runReference(run)));
    return { ...times, process };
  };
  // Alternate who goes first, so neither always runs right after the other.
  let a, b;
  if (r % 2 === 0) [a, b] = [await ourRound(), await theirRound()];
  else [b, a] = [await theirRound(), await ourRound()];
  rows.push({
    lukv: a.compute,
    lukvIo: a.withIo,
    python: b.computeMs,
    pythonIo: b.totalMs,
    pythonProcess: b.process,
  });
  console.error(`round ${r + 1}/${rounds}: ${(b.computeMs / a.compute).toFixed(1)}x`);
}
const loadAfter = await shell("uptime", []);
await Deno.remove(dir, { recursive: true });

const column = (key: keyof (typeof rows)[number]) => rows.map((row) => row[key]);
const ratio = (num: keyof (typeof rows)[number], den: keyof (typeof rows)[number]) =>
  rows.map((row) => row[num] / row[den]);

const model = (await shell("lscpu", [])).match(/^Model name:\s*(.*)$/m)?.[1] ?? "unknown";
const numpy = await shell(PYTHON, [
  "-c",
  "import numpy, sys; print(sys.version.split()[0], numpy.__version__)",
]);
const report = `# LU-KV curves + solve: lukv vs the Python/numpy heap reference (CPU)

- Date: ${new Date().toISOString().slice(0, 10)}
- Machine: ${model}, ${navigator.hardwareConcurrency} cores; Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); Python ${
  numpy.split(" ")[0]
}, numpy ${numpy.split(" ")[1]}
- Load: before \`${loadBefore}\`; after \`${loadAfter}\`
- Command: \`deno run --allow-read --allow-write --allow-run bench/curves_vs_python.ts${
  Deno.args.length ? " " + Deno.args.join(" ") : ""
}\`
- Input: \`randomInstance(${SEED}, ${LAYERS}, ${HEADS}, ${LENGTH})\` (tests/lukv/instances.ts), float32 tables
  written as .npy; sink ${PROTECTION.sink}, window ${PROTECTION.window}, global scope, minKeepFraction 0.01;
  ${ours.curves.slopes.length} hull segments. lukv's segments and table equal the reference's bit for bit.
- ${rounds} interleaved rounds. lukv: \`evictionCurves\` + \`solveBudgets\` in this Deno process after 5
  warm-up calls, the median of ${CALLS} calls per round; with I/O adds \`Deno.readFile\` + \`readHeadTableNpy\` of both tables. Python
  (tools/reference/lukv_budgets.py): its \`compute\` timed inside its own process; with I/O adds \`np.load\`
  of both tables; the process column is the whole \`/usr/bin/python3\` run as seen from Deno.

Milliseconds and ratios, median (range) over the rounds:

| | lukv | Python reference | Python / lukv |
|---|---:|---:|---:|
| curves + solve | ${medianRange(column("lukv"), 1)} | ${medianRange(column("python"), 0)} | **${
  medianRange(ratio("python", "lukv"), 1)
}** |
| with reading the .npy tables | ${medianRange(column("lukvIo"), 1)} | ${
  medianRange(column("pythonIo"), 0)
} | ${medianRange(ratio("pythonIo", "lukvIo"), 1)} |
| Python's whole process | | ${medianRange(column("pythonProcess"), 0)} | ${
  medianRange(ratio("pythonProcess", "lukvIo"), 1)
} |

Per round (ms): ${rows.map((row) => `${row.lukv.toFixed(1)} / ${row.python.toFixed(0)}`).join(", ")}.
`;
if (values.out) await Deno.writeTextFile(values.out, report);
console.log(report);

/**
 * `deno task report`: the Markdown report and SVG charts of an evaluation's results
 * (the JSONL of `deno task eval`), written into a folder as README.md + *.svg.
 *
 * ```sh
 * deno task report results.jsonl --out docs/results/tiny/ [--title "models/tiny"] [--notes notes.md]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeReport } from "../eval/report.ts";
import { byProtocol, readResults } from "../eval/results.ts";
import { cliArgs, runCli, UsageError } from "./run.ts";

const USAGE = `usage: deno task report RESULTS.jsonl --out DIR
  [--title TEXT]   the README's title (default: "Evaluation of MODEL")
  [--notes FILE]   Markdown placed under the title (the exact command, machine, run time)`;

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: cliArgs(args),
    allowPositionals: true,
    options: { out: { type: "string" }, title: { type: "string" }, notes: { type: "string" } },
  });
  if (positionals.length !== 1 || !values.out) {
    throw new UsageError("give one results file and --out DIR");
  }
  const cells = byProtocol(await readResults(positionals[0]));
  if (cells.length === 0) throw new UsageError(`${positionals[0]} holds no results`);
  const notes = values.notes === undefined ? undefined : await Deno.readTextFile(values.notes);
  const dir = values.out.replace(/\/+$/, "");
  const written = await writeReport(cells, dir, { title: values.title, notes });
  console.log(`${cells.length} cells -> ${written.join(", ")}`);
}

if (import.meta.main) await runCli("report", USAGE, () => main(Deno.args));

/**
 * `deno task solve`: LU-KV budgets from oracle and score tables (.npy `[L, H, T]`),
 * solved per (sample, question) pair, averaged, written as the `[99, L, H]` .npy curve
 * format and optionally as a JSON profile.
 *
 * ```sh
 * deno task solve --oracle O.npy --scores S.npy --sink 4 --window 32 --out P.npy [--profile P.json]
 * deno task solve --oracle oracle/ --scores scores/ --sink 4 --window 32 --scope layer --out P.npy
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { runCli, UsageError } from "./run.ts";
import { averageBudgets, budgetStats } from "../lukv/budgets.ts";
import { evictionCurves } from "../lukv/curves.ts";
import { type Profile, writeProfile } from "../lukv/profile.ts";
import { solveBudgets } from "../lukv/solver.ts";
import { readHeadTableNpy, writeBudgetNpy } from "../lukv/table_npy.ts";
import type { BudgetTable } from "../lukv/tables.ts";

const USAGE = `usage: deno task solve --oracle O.npy --scores S.npy --sink N --window N --out P.npy
  [--oracle O2.npy --scores S2.npy ...]  more (sample, question) pairs, matched in order;
                                          or one folder each, pairs matched by file name
  [--scope global|layer]                  heads compete across the model (default) or per layer
  [--min-keep 0.01]                       minimum kept fraction of every head
  [--profile P.json]                      also write a JSON profile, with:
  [--model-id ID] [--scorer NAME] [--decode-tokens 64] [--calibration NAME]`;

/** The (oracle, scores) file pairs named by the repeated flags, folders expanded. */
async function filePairs(oracles: string[], scores: string[]): Promise<[string, string][]> {
  if (oracles.length === 0 || oracles.length !== scores.length) {
    throw new UsageError(
      `give as many --oracle as --scores (at least one); got ${oracles.length} and ${scores.length}`,
    );
  }
  const pairs: [string, string][] = [];
  for (let i = 0; i < oracles.length; i++) {
    const [o, s] = [oracles[i], scores[i]];
    const [oDir, sDir] = [(await Deno.stat(o)).isDirectory, (await Deno.stat(s)).isDirectory];
    if (oDir !== sDir) throw new UsageError(`${o} and ${s}: pair two files or two folders, not one of each`);
    if (!oDir) {
      pairs.push([o, s]);
      continue;
    }
    const names = async (dir: string) =>
      (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.isFile && e.name.endsWith(".npy")).map((e) =>
        e.name
      )
        .sort();
    const [oNames, sNames] = [await names(o), await names(s)];
    const unmatched = [
      ...oNames.filter((n) => !sNames.includes(n)),
      ...sNames.filter((n) => !oNames.includes(n)),
    ];
    if (unmatched.length > 0 || oNames.length === 0) {
      throw new UsageError(
        `${o} and ${s} must hold the same .npy file names; ${
          oNames.length === 0 ? "none found" : `unmatched: ${unmatched.join(", ")}`
        }`,
      );
    }
    for (const name of oNames) pairs.push([`${o}/${name}`, `${s}/${name}`]);
  }
  return pairs;
}

function integer(flag: string, text: string | undefined, fallback?: number): number {
  if (text === undefined && fallback !== undefined) return fallback;
  const value = Number(text);
  if (text === undefined || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`--${flag} needs a non-negative integer, got ${text ?? "nothing"}`);
  }
  return value;
}

async function main(args: string[]): Promise<string> {
  const { values } = parseArgs({
    args,
    options: {
      oracle: { type: "string", multiple: true, default: [] },
      scores: { type: "string", multiple: true, default: [] },
      sink: { type: "string" },
      window: { type: "string" },
      scope: { type: "string", default: "global" },
      "min-keep": { type: "string", default: "0.01" },
      out: { type: "string" },
      profile: { type: "string" },
      "model-id": { type: "string", default: "unknown" },
      scorer: { type: "string", default: "unknown" },
      "decode-tokens": { type: "string", default: "64" },
      calibration: { type: "string", default: "cli" },
    },
  });
  const protection = { sink: integer("sink", values.sink), window: integer("window", values.window) };
  if (values.scope !== "global" && values.scope !== "layer") {
    throw new UsageError(`--scope is global or layer, got ${values.scope}`);
  }
  if (values.out === undefined) throw new UsageError("--out P.npy is required");
  const scope = values.scope, minKeepFraction = Number(values["min-keep"]);
  const pairs = await filePairs(values.oracle, values.scores);

  const started = performance.now();
  const tables: BudgetTable[] = [];
  const lengths: number[] = [];
  for (const [oPath, sPath] of pairs) {
    const oracle = readHeadTableNpy(await Deno.readFile(oPath), { name: oPath, kind: "oracle" });
    const scores = readHeadTableNpy(await Deno.readFile(sPath), { name: sPath, kind: "scores" });
    let table: BudgetTable;
    try {
      table = solveBudgets(evictionCurves(oracle, scores, protection), { scope, minKeepFraction });
    } catch (e) {
      throw e instanceof RangeError ? new RangeError(`${oPath} with ${sPath}: ${e.message}`) : e;
    }
    if (tables.length > 0 && (table.layers !== tables[0].layers || table.heads !== tables[0].heads)) {
      throw new RangeError(
        `${oPath} is [${table.layers}, ${table.heads}, T] but the first pair is [${tables[0].layers}, ${
          tables[0].heads
        }, T]`,
      );
    }
    tables.push(table);
    lengths.push(oracle.length);
  }
  const budgets = averageBudgets(tables);
  const stats = budgetStats(tables);
  const elapsed = performance.now() - started;

  await Deno.writeFile(values.out, writeBudgetNpy(budgets));
  if (values.profile !== undefined) {
    const profile: Profile = {
      model: { id: values["model-id"], layers: budgets.layers, kvHeads: budgets.heads },
      scorer: { name: values.scorer, params: {} },
      ...protection,
      decodeTokens: integer("decode-tokens", values["decode-tokens"]),
      scope,
      minKeepFraction,
      calibration: {
        name: values.calibration,
        pairs: pairs.length,
        minLength: Math.min(...lengths),
        maxLength: Math.max(...lengths),
      },
      created: new Date().toISOString(),
      budgets,
      stats,
    };
    await Deno.writeTextFile(values.profile, writeProfile(profile));
  }
  const half = stats[49];
  const span = Math.min(...lengths) === Math.max(...lengths)
    ? `T ${lengths[0]}`
    : `T ${Math.min(...lengths)}..${Math.max(...lengths)}`;
  return `solved ${pairs.length} pair${
    pairs.length > 1 ? "s" : ""
  } ([${budgets.layers}, ${budgets.heads}], ${span}, ` +
    `${scope}, sink ${protection.sink}, window ${protection.window}) in ${
      elapsed.toFixed(0)
    } ms -> ${values.out}` +
    `${values.profile ? ` + ${values.profile}` : ""}; at 50%: head prune ${half.minPrune.toFixed(2)}..${
      half.maxPrune.toFixed(2)
    }, pair std ${half.pairStd.toFixed(3)}`;
}

if (import.meta.main) await runCli("solve", USAGE, async () => console.log(await main(Deno.args)));

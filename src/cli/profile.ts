/**
 * `deno task profile`: the offline LU-KV protocol on a model folder. Writes the JSON
 * profile, optionally the kvpress-compatible `[99, L, H]` .npy, and two SVG pictures
 * beside the profile (per-head keep ratios; contrasting heads' utility curves).
 *
 * ```sh
 * deno task profile --model models/tiny --scorer snapkv --out models/tiny/lukv-snapkv.json --npy models/tiny/lukv-snapkv.npy
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DeviceRequest } from "../backend/device.ts";
import { keepHeatmapSvg, utilityCurvesSvg } from "../eval/charts/profile_charts.ts";
import { writeProfile } from "../lukv/profile.ts";
import { calibrationSet } from "../eval/calibration.ts";
import { profileModel } from "../pipeline/profiling.ts";
import { makeScorer, SCORER_NAMES } from "../press/scorers/registry.ts";
import { parseScorerParams, SCORER_PARAM_USAGE } from "./scorer_params.ts";
import { writeBudgetNpy } from "../lukv/table_npy.ts";
import { loadModel } from "../pipeline/model.ts";
import { checkModelDir, cliArgs, progress, runCli, UsageError, usageError } from "./run.ts";

const USAGE = `usage: deno task profile --model DIR --scorer SCORER --out P.json
  (SCORER: ${SCORER_NAMES.join(", ")}; a lukv-SCORER press finds DIR/lukv-SCORER.json by name)
  ${SCORER_PARAM_USAGE}
  [--npy P.npy]            also write the [99, L, H] prune ratios kvpress's LUKVPress reads
  [--samples N]            calibration contexts (default 8; 2 questions each)
  [--length N]             context tokens (default: the model's context minus room for the answers)
  [--seed S]               calibration seed (default 1; calibration seeds and text never meet evaluation's)
  [--sink 4] [--window 32] [--decode-tokens 64] [--scope global|layer] [--device cpu|cuda|auto]`;

function integer(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`--${flag} needs a non-negative integer, got ${text}`);
  }
  return value;
}

/** The calibration pairs' progress bar. */
function progressBar(done: number, total: number, elapsedMs: number): void {
  progress(done, total, "pairs", elapsedMs);
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(args),
    options: {
      model: { type: "string" },
      scorer: { type: "string" },
      out: { type: "string" },
      npy: { type: "string" },
      samples: { type: "string" },
      length: { type: "string" },
      seed: { type: "string" },
      sink: { type: "string" },
      window: { type: "string" },
      "decode-tokens": { type: "string" },
      scope: { type: "string", default: "global" },
      "scorer-param": { type: "string", multiple: true, default: [] },
      device: { type: "string", default: "auto" },
    },
  });
  if (!values.model || !values.scorer || !values.out) {
    throw new UsageError("--model, --scorer and --out are required");
  }
  if (values.scope !== "global" && values.scope !== "layer") {
    throw new UsageError("--scope is global or layer");
  }
  const decodeTokens = integer("decode-tokens", values["decode-tokens"], 64);
  const seed = integer("seed", values.seed, 1), samples = integer("samples", values.samples, 8);
  const sink = integer("sink", values.sink, 4), window = integer("window", values.window, 32);
  const scorerParams = parseScorerParams(values["scorer-param"]);
  try {
    makeScorer(values.scorer, scorerParams); // a bad scorer or parameter, before the model loads
  } catch (error) {
    throw usageError(error);
  }
  checkModelDir(values.model);
  using model = await loadModel(values.model, { device: values.device as DeviceRequest });
  const length = integer("length", values.length, model.contextLimit - decodeTokens - 32);
  const started = performance.now();
  console.error(
    `profiling ${values.model} on ${model.device.selection}: ${samples} contexts of ${length} tokens`,
  );
  const items = await calibrationSet(model, { samples, length, seed });
  progressBar(0, items.length * 2, 0);
  const run = await profileModel(model, {
    scorer: values.scorer,
    scorerParams,
    sink,
    window,
    decodeTokens,
    scope: values.scope,
    calibration: { name: `lukv tasks, calibration split, seed ${seed}`, items, seed },
    onProgress: progressBar,
  });
  await Deno.writeTextFile(values.out, writeProfile(run.profile));
  if (values.npy) await Deno.writeFile(values.npy, writeBudgetNpy(run.profile.budgets));
  const stem = values.out.replace(/\.json$/, "");
  const title = `${run.profile.model.id}, ${run.profile.scorer.name}`;
  await Deno.writeTextFile(`${stem}-keep.svg`, await keepHeatmapSvg(run.profile.budgets, title));
  const protections = run.profile;
  await Deno.writeTextFile(
    `${stem}-curves.svg`,
    await utilityCurvesSvg(
      run.oracles[0],
      run.scores[0],
      run.profile.budgets,
      protections.sink,
      protections.window,
    ),
  );
  const at80 = run.profile.stats[79];
  console.log(
    `profiled ${run.tables.length} pairs in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s -> ${values.out}` +
      `${values.npy ? ` + ${values.npy}` : ""} + ${stem}-keep.svg, ${stem}-curves.svg; at 80%: head keep ` +
      `${(1 - at80.maxPrune).toFixed(2)}..${(1 - at80.minPrune).toFixed(2)}, pair std ${
        at80.pairStd.toFixed(3)
      }`,
  );
}

if (import.meta.main) await runCli("profile", USAGE, () => main(Deno.args));

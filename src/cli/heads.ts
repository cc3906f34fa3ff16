/**
 * `deno task heads`: per-(layer, KV head) retrieval scores of a model on needle
 * samples (evaluation split), as a Markdown table on stdout and an SVG heatmap.
 *
 * ```sh
 * deno task heads --model models/tiny --samples 20 --svg models/tiny/retrieval-heads.svg
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { DeviceRequest } from "../backend/device.ts";
import { headHeatmapSvg } from "../eval/charts/head_heatmap.ts";
import { retrievalScores } from "../eval/retrieval_heads.ts";
import { generateSamples } from "../eval/tasks/mod.ts";
import { loadModel } from "../pipeline/model.ts";
import { checkModelDir, cliArgs, runCli, UsageError } from "./run.ts";

const USAGE =
  "usage: deno task heads --model DIR [--samples 20] [--length N] [--seed 5] [--svg OUT.svg] [--device]";

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: cliArgs(args),
    options: {
      model: { type: "string" },
      samples: { type: "string", default: "20" },
      length: { type: "string" },
      seed: { type: "string", default: "5" },
      svg: { type: "string" },
      device: { type: "string", default: "auto" },
    },
  });
  if (!values.model) throw new UsageError("--model DIR is required");
  const count = Number(values.samples), seed = Number(values.seed);
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError(`--samples needs a positive integer`);
  checkModelDir(values.model);
  using model = await loadModel(values.model, { device: values.device as DeviceRequest });
  const length = values.length ? Number(values.length) : model.contextLimit - 16;
  const samples = await generateSamples("needle", {
    length,
    count,
    seed,
    split: "eval",
    tokenizer: model.tokenizer,
  });
  const scores = retrievalScores(model, samples);
  const { layers, kvHeads } = model.config;
  console.log(`| layer | ${Array.from({ length: kvHeads }, (_, h) => `head ${h}`).join(" | ")} |`);
  console.log(`|---|${"---:|".repeat(kvHeads)}`);
  for (let l = 0; l < layers; l++) {
    const row = Array.from({ length: kvHeads }, (_, h) => scores[l * kvHeads + h].toFixed(3));
    console.log(`| ${l} | ${row.join(" | ")} |`);
  }
  if (values.svg) {
    const cells = Array.from(
      scores,
      (value, i) => ({ layer: Math.floor(i / kvHeads), head: i % kvHeads, value }),
    );
    const title = `Retrieval score per KV head (${count} needle samples, ${length} tokens)`;
    await Deno.writeTextFile(values.svg, await headHeatmapSvg(cells, { title, legend: "share on needle" }));
  }
}

if (import.meta.main) await runCli("heads", USAGE, () => main(Deno.args));

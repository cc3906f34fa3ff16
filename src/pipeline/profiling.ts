/** The offline LU-KV protocol on a loaded model: oracle utilities and scores per (sample, question), solved and averaged. */

import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import type { DenseKvCache } from "../cache/dense.ts";
import { averageBudgets, budgetStats } from "../lukv/budgets.ts";
import { evictionCurves } from "../lukv/curves.ts";
import type { Profile } from "../lukv/profile.ts";
import { solveBudgets } from "../lukv/solver.ts";
import type { BudgetTable, HeadTable } from "../lukv/tables.ts";
import type { ForwardObserver } from "../model/observer.ts";
import { scorerKey } from "../press/score_recorder.ts";
import { makeScorer } from "../press/scorers/registry.ts";
import type { ScorerParams } from "../press/scorers/scorer.ts";
import { decode } from "./decode.ts";
import { greedyToken } from "../model/sampling.ts";
import type { Model } from "./model.ts";
import { scoredPrefill } from "./prefill.ts";
import { append } from "./steps.ts";

/** One calibration context with the questions asked about it. */
export interface CalibrationItem {
  /** The context (encoded with special tokens). */
  context: string;
  /** Question + answer prefix texts, each appended to the context on its own. */
  questions: string[];
}

/** Options of {@linkcode profileModel}. */
export interface ProfileOptions {
  /** Scorer whose ranking the curves follow: `snapkv`, `expected-attention`, `keydiff`, ... */
  scorer: string;
  /** The scorer's parameters (unset ones take its defaults); recorded in the profile. */
  scorerParams?: ScorerParams;
  /** Protected leading tokens (default 4). */
  sink?: number;
  /** Protected trailing tokens (default 32). */
  window?: number;
  /** Decoded answer tokens per question, `K` (default 64). */
  decodeTokens?: number;
  /** Solver scope (default `"global"`). */
  scope?: "global" | "layer";
  /** The calibration set (the evaluation's `calibrationSet` makes the default one). */
  calibration: { name: string; items: CalibrationItem[]; seed?: number };
  /** Called after each (sample, question) pair with the pairs done, the total and the elapsed ms. */
  onProgress?: (done: number, total: number, elapsedMs: number) => void;
}

/** What {@linkcode profileModel} measured, besides the profile. */
export interface ProfileRun {
  /** The averaged profile. */
  profile: Profile;
  /** Each pair's `[99, L, H]` table. */
  tables: BudgetTable[];
  /** Each pair's oracle utilities `[L, H, T]`. */
  oracles: HeadTable[];
  /** Each pair's scores `[L, H, T]` (the sample's, repeated for its questions). */
  scores: HeadTable[];
}

/**
 * Profiles a model (DESIGN.md 7.1-7.6): per calibration context, a full-cache prefill
 * records the scorer's scores `S [L, H, T]`; per question, the question is appended
 * and `K` tokens are decoded greedily with the full cache while a kernel keeps, for
 * every context token, the running maximum over decode steps and GQA group of
 * `attention x normalised value-output norm` (the oracle `O`). The K steps are the
 * question's last position and the first K - 1 answer tokens. Each pair's curves are
 * solved and the tables averaged into the profile.
 *
 * @example
 * ```ts
 * const { profile } = await profileModel(model, { scorer: "snapkv" });
 * await Deno.writeTextFile("lukv-snapkv.json", writeProfile(profile));
 * ```
 */
export async function profileModel(model: Model, options: ProfileOptions): Promise<ProfileRun> {
  const { sink = 4, window = 32, decodeTokens = 64, scope = "global", onProgress, calibration } = options;
  const scorer = makeScorer(options.scorer, options.scorerParams);
  if (calibration.items.length === 0) throw new RangeError("the calibration set is empty");
  const total = calibration.items.reduce((n, item) => n + item.questions.length, 0);
  const { layers, heads, kvHeads, headDim } = model.config;
  const outputNorms = valueOutputGrams(model);
  const run: Omit<ProfileRun, "profile"> = { tables: [], oracles: [], scores: [] };
  const started = performance.now();
  const lengths: number[] = [];
  for (const item of calibration.items) {
    const context = model.encode(item.context);
    const questions = item.questions.map((q) => model.encode(q, { addSpecialTokens: false }));
    const longest = Math.max(...questions.map((q) => q.length));
    model.checkPrompt(new Int32Array(context.length + longest + decodeTokens));
    lengths.push(context.length);
    using done = scoredPrefill(model, context, {
      scorers: [scorer],
      capacity: context.length + longest + decodeTokens,
    });
    const perLayer = done.recorders[0].scores(scorerKey(scorer));
    const data = new Float32Array(layers * kvHeads * context.length);
    perLayer.forEach((layer, l) => data.set(layer, l * layer.length));
    const scores: HeadTable = { layers, heads: kvHeads, length: context.length, data };
    using oracle = new OracleRecorder(model, done.cache, context.length, outputNorms);
    for (const question of questions) {
      oracle.start();
      const logits = append(model, done.cache, question, [oracle]);
      const answer = decode(model, done.cache, logits, {
        maxNew: decodeTokens,
        pick: greedyToken,
        observers: [oracle],
      });
      for (const _ of answer); // the oracle watches every step
      const table: HeadTable = { layers, heads: kvHeads, length: context.length, data: oracle.table() };
      done.cache.length = context.length; // forget the question and its answer
      run.oracles.push(table);
      run.scores.push(scores);
      run.tables.push(solveBudgets(evictionCurves(table, scores, { sink, window }), { scope }));
      onProgress?.(run.tables.length, total, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 0)); // let timers and signals run between pairs
    }
  }
  const budgets = averageBudgets(run.tables);
  const profile: Profile = {
    model: { id: model.dir, layers, kvHeads, queryHeads: heads, headDim, weights: model.weightsFingerprint },
    scorer: { name: scorer.name, params: scorer.params },
    sink,
    window,
    decodeTokens,
    scope,
    minKeepFraction: 0.01,
    calibration: {
      name: calibration.name,
      pairs: run.tables.length,
      samples: calibration.items.length,
      ...(calibration.seed !== undefined && { seed: calibration.seed }),
      minLength: Math.min(...lengths),
      maxLength: Math.max(...lengths),
    },
    created: new Date().toISOString(),
    budgets,
    stats: budgetStats(run.tables),
  };
  return { ...run, profile };
}

/**
 * Records LU-KV's oracle utility (DESIGN.md 7.1) over a dense cache whose first
 * `context` tokens are the calibration context: while a question is answered, each
 * block's last query (the question's last position, then each answer token) folds its
 * `attention x normalised value-output norm` into a running max per context token.
 */
class OracleRecorder implements ForwardObserver, Disposable {
  readonly #weights: Tensor<"f32">[];
  #oracle: Tensor<"f32">[] = [];

  constructor(
    readonly model: Model,
    readonly cache: DenseKvCache,
    readonly context: number,
    outputNorms: Float64Array[],
  ) {
    this.#weights = [];
    try {
      for (let l = 0; l < model.config.layers; l++) {
        const norms = normalisedNorms(model, cache, l, context, outputNorms[l]);
        this.#weights.push(model.device.fromArray("f32", norms, [model.config.heads, context]));
      }
    } catch (error) {
      this[Symbol.dispose]();
      throw error;
    }
  }

  /** Starts a question's oracle from zero. */
  start(): void {
    this.#oracle.forEach((t) => t.close());
    this.#oracle = this.cache.keys.map(() =>
      this.model.device.zeros("f32", [this.cache.shape.kvHeads, this.context])
    );
  }

  queriesAfterWrite(l: number, q: Tensor<"f32">, pos0: number): void {
    const [rows, heads, headDim] = q.shape;
    ops.attentionOracle(
      this.#oracle[l],
      q.rows(rows - 1, 1).reshape([heads, headDim]),
      this.cache.keys[l],
      this.#weights[l],
      pos0 + rows,
    );
  }

  /** The recorded oracle of every layer, `[L, H, T]`. */
  table(): Float32Array {
    const per = this.cache.shape.kvHeads * this.context;
    const out = new Float32Array(this.#oracle.length * per);
    this.#oracle.forEach((t, l) => out.set(t.toHost(), l * per));
    return out;
  }

  [Symbol.dispose](): void {
    for (const t of [...this.#weights, ...this.#oracle]) t.close();
  }
}

/**
 * `n[q, j] = ||W_O^(q) v_j||` for the context's values of layer `l`, divided by its sum
 * over all query heads and tokens of the layer (DESIGN.md 7.1), as `[heads, T]`.
 */
function normalisedNorms(
  model: Model,
  cache: DenseKvCache,
  l: number,
  t: number,
  gram: Float64Array,
): Float32Array {
  const { heads, kvHeads, headDim: d } = model.config;
  const group = heads / kvHeads, capacity = cache.capacity;
  const values = cache.device.kind === "cpu" ? cache.values[l].view() : cache.values[l].toHost();
  const norms = new Float64Array(heads * t);
  let sum = 0;
  for (let q = 0; q < heads; q++) {
    const g = gram.subarray(q * d * d, (q + 1) * d * d), h = Math.floor(q / group);
    for (let j = 0; j < t; j++) {
      const v = values.subarray((h * capacity + j) * d, (h * capacity + j + 1) * d);
      let quadratic = 0;
      for (let a = 0; a < d; a++) {
        let row = 0;
        for (let b = 0; b < d; b++) row += g[a * d + b] * v[b];
        quadratic += v[a] * row;
      }
      sum += norms[q * t + j] = Math.sqrt(Math.max(0, quadratic));
    }
  }
  return Float32Array.from(norms, (n) => n / (sum || 1));
}

/**
 * Per layer, the Gram matrices `W_O^(q)^T W_O^(q)` `[heads, headDim, headDim]` of each
 * query head's slice of the output projection, so `||W_O^(q) v||^2 = v^T G_q v`.
 */
function valueOutputGrams(model: Model): Float64Array[] {
  const { hiddenSize: hidden, heads, headDim: d } = model.config;
  return model.forward.weights.layers.map(({ o }) => {
    using wide = o.dtype === "f32" ? null : model.device.empty("f32", o.shape);
    if (wide) ops.convert(wide, o);
    const w = (wide ?? o).toHost() as Float32Array; // [hidden, heads * d]
    const gram = new Float64Array(heads * d * d);
    for (let q = 0; q < heads; q++) {
      for (let r = 0; r < hidden; r++) {
        const row = w.subarray(r * heads * d + q * d, r * heads * d + (q + 1) * d);
        for (let a = 0; a < d; a++) {
          for (let b = 0; b < d; b++) gram[(q * d + a) * d + b] += row[a] * row[b];
        }
      }
    }
    return gram;
  });
}

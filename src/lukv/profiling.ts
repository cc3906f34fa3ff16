/** The offline LU-KV protocol on a loaded model: oracle utilities and scores per (sample, question), solved and averaged. */

import * as ops from "../backend/ops.ts";
import type { Tensor } from "../backend/tensor.ts";
import { DenseKvCache } from "../cache/dense.ts";
import { generateSample, type TaskName } from "../eval/tasks/mod.ts";
import type { Model } from "../model/model.ts";
import { LayerScoring } from "../press/layer_scoring.ts";
import { makeScorer } from "../press/presets.ts";
import { averageBudgets, budgetStats } from "./budgets.ts";
import { evictionCurves } from "./curves.ts";
import type { Profile } from "./profile.ts";
import { solveBudgets } from "./solver.ts";
import type { BudgetTable, HeadTable } from "./tables.ts";

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
  /** Protected leading tokens (default 4). */
  sink?: number;
  /** Protected trailing tokens (default 32). */
  window?: number;
  /** Decoded answer tokens per question, `K` (default 64). */
  decodeTokens?: number;
  /** Solver scope (default `"global"`). */
  scope?: "global" | "layer";
  /** The calibration set (default: {@linkcode calibrationSet} with 8 samples). */
  calibration?: { name: string; items: CalibrationItem[]; seed?: number };
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

/** Tasks whose contexts the default calibration set cycles through. */
const CALIBRATION_TASKS: TaskName[] = ["multikey", "multiquery", "variable-tracking", "multivalue", "needle"];

/** A question any context can answer, so each context is probed twice (its own question, and this). */
const RECALL_QUESTION = "\nRepeat the first sentence of the text above.\n The first sentence of the text is";

/**
 * The default calibration set: `samples` contexts from the generators' calibration
 * split (own filler text and seeds, never the evaluation ones) at `length` tokens,
 * cycling through retrieval-style tasks; each context gets its own question and a
 * generic recall question.
 *
 * @example
 * ```ts
 * const items = await calibrationSet(model, { samples: 8, length: 2000, seed: 7 });
 * ```
 */
export async function calibrationSet(
  model: Model,
  { samples, length, seed }: { samples: number; length: number; seed: number },
): Promise<CalibrationItem[]> {
  const items: CalibrationItem[] = [];
  for (let i = 0; i < samples; i++) {
    const task = CALIBRATION_TASKS[i % CALIBRATION_TASKS.length];
    const sample = await generateSample(task, {
      length,
      seed,
      index: i,
      split: "calib",
      tokenizer: model.tokenizer,
    });
    items.push({
      context: sample.context,
      questions: [sample.question + sample.answerPrefix, RECALL_QUESTION],
    });
  }
  return items;
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
  const { sink = 4, window = 32, decodeTokens = 64, scope = "global", onProgress } = options;
  const scorer = makeScorer(options.scorer);
  const calibration = options.calibration ?? {
    name: "lukv-calib",
    seed: 1,
    items: await calibrationSet(model, {
      samples: 8,
      length: model.contextLimit - decodeTokens - 32,
      seed: 1,
    }),
  };
  const total = calibration.items.reduce((n, item) => n + item.questions.length, 0);
  const { layers, heads, kvHeads, headDim } = model.config;
  const shape = model.scoringShape;
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
    using cache = new ProfilingCache(model, new LayerScoring(model.device, shape, scorer, context.length), {
      capacity: context.length + longest + decodeTokens,
      outputNorms,
    });
    model.forward.run(context, cache).close();
    const scores: HeadTable = {
      layers,
      heads: kvHeads,
      length: context.length,
      data: rankPreservingFinite(cache.scoreTable(), context.length),
    };
    for (const question of questions) {
      cache.startOracle();
      let logits = lastLogits(model, model.forward.run(question, cache));
      for (let step = 1; step < decodeTokens; step++) {
        logits = lastLogits(model, model.forward.run(new Int32Array([argmax(logits)]), cache));
      }
      const oracle: HeadTable = { layers, heads: kvHeads, length: context.length, data: cache.oracleTable() };
      cache.rewind(context.length);
      run.oracles.push(oracle);
      run.scores.push(scores);
      run.tables.push(solveBudgets(evictionCurves(oracle, scores, { sink, window }), { scope }));
      onProgress?.(run.tables.length, total, performance.now() - started);
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
 * A dense cache that also records, for one context, the scorer's scores at the end of
 * the context prefill and, while a question is answered, the oracle utilities.
 */
class ProfilingCache extends DenseKvCache {
  readonly #scoring: LayerScoring;
  readonly #outputNorms: Float64Array[];
  readonly #heads: number;
  readonly #scores: Float32Array[] = [];
  #weights: Tensor<"f32">[] = [];
  #oracle: Tensor<"f32">[] = [];
  #context = 0;
  #recording = false;

  constructor(
    model: Model,
    scoring: LayerScoring,
    options: { capacity: number; outputNorms: Float64Array[] },
  ) {
    const { layers, kvHeads, headDim } = model.config;
    super(model.device, { layers, kvHeads, headDim }, options.capacity);
    this.#scoring = scoring;
    this.#outputNorms = options.outputNorms;
    this.#heads = model.config.heads;
  }

  override layer(l: number) {
    if (!this.#recording) this.#scoring.begin();
    return super.layer(l);
  }

  queriesBeforeRope(_l: number, q: Tensor<"f32">, pos0: number): void {
    if (!this.#recording) this.#scoring.queriesBeforeRope(q, pos0);
  }

  queriesAfterWrite(l: number, q: Tensor<"f32">, pos0: number): void {
    if (!this.#recording) return this.#scoring.queriesAfterWrite(q, pos0, this.keys[l]);
    const [rows, heads, headDim] = q.shape;
    // Only the block's last query decodes a token: the question's last position, then each answer token.
    ops.attentionOracle(
      this.#oracle[l],
      q.rows(rows - 1, 1).reshape([heads, headDim]),
      this.keys[l],
      this.#weights[l],
      pos0 + rows,
    );
  }

  endLayer(l: number): void {
    if (this.#recording) return;
    this.#scores[l] = this.#scoring.score(l, this.keys[l], this.values[l]);
    this.#context = this.#scoring.tokens;
    this.#weights[l] = this.device.fromArray("f32", this.#normalisedNorms(l), [this.#heads, this.#context]);
  }

  /** The scores of every layer, `[L, H, T]`. */
  scoreTable(): Float32Array {
    const out = new Float32Array(this.#scores.length * this.#scores[0].length);
    this.#scores.forEach((s, l) => out.set(s, l * s.length));
    return out;
  }

  /** Starts recording a question's oracle from zero. */
  startOracle(): void {
    this.#oracle.forEach((t) => t.close());
    this.#oracle = this.keys.map(() => this.device.zeros("f32", [this.shape.kvHeads, this.#context]));
    this.#recording = true;
  }

  /** The recorded oracle of every layer, `[L, H, T]`. */
  oracleTable(): Float32Array {
    const per = this.shape.kvHeads * this.#context;
    const out = new Float32Array(this.#oracle.length * per);
    this.#oracle.forEach((t, l) => out.set(t.toHost(), l * per));
    return out;
  }

  /** Forgets everything after the context (the question and its answer). */
  rewind(length: number): void {
    this.length = length;
    this.#recording = false;
  }

  override close(): void {
    for (const t of [...this.#weights, ...this.#oracle]) t.close();
    super.close();
  }

  /**
   * `n[q, j] = ||W_O^(q) v_j||` for the context's values, divided by its sum over all
   * query heads and tokens of the layer (DESIGN.md 7.1), as `[heads, T]`.
   */
  #normalisedNorms(l: number): Float32Array {
    const { kvHeads, headDim: d } = this.shape;
    const heads = this.#heads, group = heads / kvHeads, t = this.#context, capacity = this.capacity;
    const values = this.device.kind === "cpu" ? this.values[l].view() : this.values[l].toHost();
    const gram = this.#outputNorms[l];
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

function lastLogits(model: Model, hidden: Tensor<"f32">): Float32Array {
  using owned = hidden;
  return model.forward.logits(owned.rows(owned.shape[0] - 1, 1));
}

/**
 * Scorers mark the tokens they protect (SnapKV's window, sinks) +Infinity; the curves
 * need finite scores, so those become one more than the head's largest finite score:
 * the same ranking, still above every other token.
 */
function rankPreservingFinite(scores: Float32Array, length: number): Float32Array {
  for (let base = 0; base < scores.length; base += length) {
    let max = -Infinity;
    for (let j = base; j < base + length; j++) if (Number.isFinite(scores[j])) max = Math.max(max, scores[j]);
    const top = Number.isFinite(max) ? max + 1 : 0;
    for (let j = base; j < base + length; j++) if (scores[j] === Infinity) scores[j] = top;
  }
  return scores;
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

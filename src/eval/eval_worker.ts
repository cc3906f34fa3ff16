/**
 * The worker side of `runEvalInWorkers`: loads the model once, rebuilds the presses from
 * plain data, and evaluates the samples it is sent, posting each cell as it finishes.
 *
 * Messages in: `init` ({@linkcode WorkerInit}), then `sample` ({@linkcode WorkerSample}), one
 * at a time. Messages out: `ready`; per sample, `cell` for each cell then `done`; `error`.
 *
 * @module
 */

import type { DeviceRequest } from "../backend/device.ts";
import type { Profile } from "../lukv/profile.ts";
import type { ScorerParams } from "../press/scorers/scorer.ts";
import { loadModel, type Model } from "../pipeline/model.ts";
import type { EvalSample } from "./items.ts";
import { type EvalPress, makeEvalPress } from "./press_set.ts";
import type { Protocol, RunIdentity } from "./results.ts";
import { evaluateSample } from "./sample_eval.ts";

/** Sets a worker up: the model to load and the presses (name, profile, scorer parameters) to rebuild. */
export interface WorkerInit {
  /** The message kind. */
  type: "init";
  /** Model folder. */
  dir: string;
  /** Device to open. */
  device: DeviceRequest;
  /** Presses as plain data. */
  presses: { label: string; profile?: Profile; scorerParams?: ScorerParams }[];
  /** Stamped on every cell. */
  run: RunIdentity;
  /** Answer budget override. */
  maxNewTokens?: number;
}

/** One sample to evaluate, with the cells still to compute (press label, ratio). */
export interface WorkerSample {
  /** The message kind. */
  type: "sample";
  /** The sample's place in the run, echoed back. */
  seq: number;
  /** Task name. */
  task: string;
  /** Sample index. */
  index: number;
  /** The text. */
  sample: EvalSample;
  /** Cells to compute, in order. */
  pending: { label: string; ratio: number; mode: Protocol }[];
}

/** The worker's global scope, as far as this file uses it. */
const port = self as unknown as {
  onmessage: ((event: MessageEvent<WorkerInit | WorkerSample>) => void) | null;
  postMessage(message: unknown): void;
};

let state: { model: Model; presses: Map<string, EvalPress>; init: WorkerInit } | null = null;

port.onmessage = async ({ data }) => {
  try {
    if (data.type === "init") {
      const model = await loadModel(data.dir, { device: data.device });
      const presses = data.presses.map((p) => makeEvalPress(p.label, p));
      state = { model, presses: new Map(presses.map((p) => [p.label, p])), init: data };
      port.postMessage({ type: "ready" });
      return;
    }
    if (!state) throw new Error("the worker got a sample before init");
    const { model, presses, init } = state;
    const planned = data.pending.map(({ label, ratio, mode }) => {
      const entry = presses.get(label);
      if (!entry) throw new Error(`the worker has no press ${label}`);
      return { entry, ratio, mode };
    });
    const item = { task: data.task, index: data.index };
    for (const cell of evaluateSample(model, item, data.sample, planned, init.run, init.maxNewTokens)) {
      port.postMessage({ type: "cell", seq: data.seq, cell });
    }
    port.postMessage({ type: "done", seq: data.seq });
  } catch (error) {
    const { name, message, op, code } = error as {
      name?: string;
      message?: string;
      op?: string;
      code?: number;
    };
    port.postMessage({ type: "error", name, message: message ?? String(error), op, code });
  }
};

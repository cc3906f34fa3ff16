/** The model users hold: the runtime plus streaming generation through the pipeline, and `loadModel`. */

import { loadModelParts, type LoadOptions, ModelRuntime } from "../model/model.ts";
import { type GenerateOptions, Generation, type SplitPrompt } from "./generate.ts";

/**
 * A model ready to generate. Close it (or `using`) to free its device memory.
 *
 * @example
 * ```ts
 * using model = await loadModel("models/tiny");
 * for await (const piece of model.generate("The capital of France is", { maxNewTokens: 8 })) {
 *   Deno.stdout.writeSync(new TextEncoder().encode(piece));
 * }
 * ```
 */
export class Model extends ModelRuntime {
  /**
   * Generates from a prompt (text is encoded with special tokens; ids are used as
   * given). With a press, the cache is compressed after the whole prompt
   * (query-aware); with `{ context, question }`, after the context, and the question is
   * then appended to the compressed cache in one forward (query-agnostic). The result is
   * async-iterable over decoded text pieces and its `stats()` resolve after the last token.
   *
   * @example
   * ```ts
   * const run = model.generate("Once upon a time", { maxNewTokens: 32, press: "lukv-snapkv", compressionRatio: 0.8 });
   * for await (const piece of run) console.log(piece);
   * console.log(await run.stats()); // { promptTokens, newTokens, prefillMs, decodeTokensPerSecond, kvBytes, ... }
   * ```
   */
  generate(prompt: string | Int32Array | SplitPrompt, options: GenerateOptions = {}): Generation {
    const encode = (p: string | Int32Array, special: boolean) =>
      typeof p === "string" ? this.encode(p, { addSpecialTokens: special }) : p;
    if (typeof prompt === "string" || prompt instanceof Int32Array) {
      const ids = encode(prompt, true);
      this.checkPrompt(ids);
      return new Generation(this, ids, options);
    }
    const context = encode(prompt.context, true), question = encode(prompt.question, false);
    const whole = new Int32Array(context.length + question.length);
    whole.set(context);
    whole.set(question, context.length);
    this.checkPrompt(whole);
    return new Generation(this, context, options, question);
  }
}

/**
 * Loads a Hugging Face model folder: `config.json`, `model.safetensors` (or a sharded
 * index), `tokenizer.json` (+ `tokenizer_config.json`, chat template) and
 * `generation_config.json` when present. Malformed files are LukvErrors naming the
 * file, tensor or field.
 *
 * @example
 * ```ts
 * using model = await loadModel("models/tiny", { device: "cpu" });
 * ```
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Model> {
  return new Model(await loadModelParts(dir, options));
}

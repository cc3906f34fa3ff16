/** Hugging Face `generation_config.json`: the model's stop tokens and sampling defaults, validated. */

import { z } from "zod";
import { LukvError, STATUS } from "../backend/errors.ts";
import { issueLines, readJsonFile } from "./json_file.ts";

/** The generation defaults a model folder ships; null where the file says nothing. */
export interface GenerationConfig {
  /** `bos_token_id`, or null. */
  bosTokenId: number | null;
  /** `eos_token_id` as a list: generation stops at any of them (empty when absent). */
  eosTokenIds: number[];
  /** `pad_token_id`, or null. */
  padTokenId: number | null;
  /** `do_sample`: false means greedy decoding. */
  doSample: boolean | null;
  /** `temperature` (>= 0). */
  temperature: number | null;
  /** `top_k` (0 disables it). */
  topK: number | null;
  /** `top_p`, in (0, 1]. */
  topP: number | null;
  /** `max_new_tokens`. */
  maxNewTokens: number | null;
  /** `max_length` (prompt plus new tokens). */
  maxLength: number | null;
}

const TOKEN_IDS = "expected a token id, a list of token ids or null";
const tokenId = z.number({ message: TOKEN_IDS }).int({ message: TOKEN_IDS }).nonnegative({
  message: TOKEN_IDS,
});
const positiveInt = z.number({ message: "expected a positive integer" }).int({
  message: "expected a positive integer",
})
  .positive({ message: "expected a positive integer" });

const generationConfigSchema = z.object({
  bos_token_id: tokenId.nullable().optional(),
  eos_token_id: z.union([tokenId, z.array(tokenId, { message: TOKEN_IDS }), z.null()], {
    errorMap: () => ({ message: TOKEN_IDS }),
  })
    .optional(),
  pad_token_id: tokenId.nullable().optional(),
  do_sample: z.boolean({ message: "expected true or false" }).nullable().optional(),
  temperature: z.number({ message: "expected a number >= 0" }).nonnegative({
    message: "expected a number >= 0",
  })
    .nullable().optional(),
  top_k: z.number({ message: "expected an integer >= 0" }).int({ message: "expected an integer >= 0" })
    .nonnegative({ message: "expected an integer >= 0" }).nullable().optional(),
  top_p: z.number({ message: "expected a number in (0, 1]" }).positive({
    message: "expected a number in (0, 1]",
  })
    .max(1, { message: "expected a number in (0, 1]" }).nullable().optional(),
  max_new_tokens: positiveInt.nullable().optional(),
  max_length: positiveInt.nullable().optional(),
}, { message: "expected a JSON object" }).passthrough();

/**
 * Validates a parsed `generation_config.json`; each bad field is one line of the
 * LukvError (FORMAT), naming `file` and the field.
 *
 * @example
 * ```ts
 * parseGenerationConfig({ eos_token_id: [128001, 128009], temperature: 0.6 }).eosTokenIds; // [128001, 128009]
 * ```
 */
export function parseGenerationConfig(raw: unknown, file = "generation_config.json"): GenerationConfig {
  const parsed = generationConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new LukvError(
      "generation_config",
      STATUS.FORMAT,
      issueLines(file, parsed.error.issues, raw).join("\n"),
    );
  }
  const g = parsed.data;
  return {
    bosTokenId: g.bos_token_id ?? null,
    eosTokenIds: g.eos_token_id == null
      ? []
      : typeof g.eos_token_id === "number"
      ? [g.eos_token_id]
      : g.eos_token_id,
    padTokenId: g.pad_token_id ?? null,
    doSample: g.do_sample ?? null,
    temperature: g.temperature ?? null,
    topK: g.top_k ?? null,
    topP: g.top_p ?? null,
    maxNewTokens: g.max_new_tokens ?? null,
    maxLength: g.max_length ?? null,
  };
}

/**
 * Reads `dir/generation_config.json` when present (null when the folder has none).
 *
 * @example
 * ```ts
 * const generation = await loadGenerationConfig("models/tiny");
 * const stopIds = generation?.eosTokenIds ?? config.eosTokenIds;
 * ```
 */
export async function loadGenerationConfig(dir: string): Promise<GenerationConfig | null> {
  const raw = await readJsonFile("generation_config", dir, "generation_config.json", { optional: true });
  return raw === undefined ? null : parseGenerationConfig(raw);
}

/** Hugging Face `config.json` of the Llama family: a zod schema, checks across fields, a camelCase `ModelConfig`. */

import { z } from "zod";
import { LukvError, STATUS } from "../backend/errors.ts";
import { describeValue, issueLines, readJsonFile } from "./json_file.ts";

/** The `architectures` lukv runs. */
export const SUPPORTED_ARCHITECTURES = [
  "LlamaForCausalLM",
  "MistralForCausalLM",
  "Qwen2ForCausalLM",
  "Qwen3ForCausalLM",
] as const;

/** One of {@linkcode SUPPORTED_ARCHITECTURES}. */
export type Architecture = typeof SUPPORTED_ARCHITECTURES[number];

/**
 * RoPE frequency scaling: `linear` divides every inverse frequency by `factor`; `llama3`
 * divides only the low frequencies and interpolates the middle band (Llama 3.1+).
 */
export type RopeScaling =
  | { type: "linear"; factor: number }
  | {
    type: "llama3";
    factor: number;
    lowFreqFactor: number;
    highFreqFactor: number;
    originalMaxPositionEmbeddings: number;
  };

/** A validated model configuration; sizes are per layer unless said otherwise. */
export interface ModelConfig {
  /** The architecture (the first supported entry of `architectures`). */
  architecture: Architecture;
  /** Rows of the embedding and of the LM head. */
  vocabSize: number;
  /** Width of the residual stream. */
  hiddenSize: number;
  /** Width of the MLP's gate/up projections. */
  intermediateSize: number;
  /** Number of decoder layers. */
  layers: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (GQA); divides `heads`. */
  kvHeads: number;
  /** Width of one head (even); q_proj is `[heads * headDim, hiddenSize]`. */
  headDim: number;
  /** Epsilon of every RMSNorm. */
  rmsNormEps: number;
  /** RoPE base. */
  ropeTheta: number;
  /** RoPE frequency scaling, or null for none. */
  ropeScaling: RopeScaling | null;
  /** Longest sequence the model was configured for. */
  maxPositionEmbeddings: number;
  /** Whether the LM head reuses the embedding matrix (no `lm_head.weight`). */
  tieWordEmbeddings: boolean;
  /** Whether q_proj, k_proj, v_proj have biases (Qwen2 always; Llama/Qwen3 with `attention_bias`). */
  qkvBias: boolean;
  /** Whether o_proj has a bias (Llama/Qwen3 with `attention_bias`; never Qwen2 or Mistral). */
  oBias: boolean;
  /** Whether the MLP projections have biases (Llama's `mlp_bias`). */
  mlpBias: boolean;
  /** Whether q and k get a per-head RMSNorm before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Mistral's sliding attention window in tokens, or null when attention sees the whole context. */
  slidingWindow: number | null;
  /** `bos_token_id`, or null. */
  bosTokenId: number | null;
  /** `eos_token_id` as a list (empty when absent). */
  eosTokenIds: number[];
}

const MODEL_TYPES: Readonly<Record<string, Architecture>> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
};

const POSITIVE_INT = "expected a positive integer";
const POSITIVE_NUMBER = "expected a positive number";
const BOOLEAN = "expected true or false";
const TOKEN_IDS = "expected a token id, a list of token ids or null";

/**
 * The largest value lukv accepts for each size in `config.json`, and why. Each is far
 * above every released Llama-family model (Llama 3.1 405B: hidden 16384, MLP 53248,
 * 126 layers, 128 heads, head_dim 128, vocab 128256; Llama 4 Scout: 10M positions), and
 * low enough that no size computed from them leaves the safe integers or makes a host
 * array that cannot exist; a config beyond one is a malformed file, refused before
 * anything is allocated.
 *
 * @example
 * ```ts
 * config.headDim <= CONFIG_LIMITS.headDim; // true for every parsed config
 * ```
 */
export const CONFIG_LIMITS = {
  /**
   * 2^22 (4M) ids: 16x the largest released vocabulary (262144); ids stay exact in int32
   * and float32, and the tokenizer's tables over them build in about 0.1 s.
   */
  vocabSize: 2 ** 22,
  /** 4x the widest released model (16384). */
  hiddenSize: 2 ** 16,
  /** ~5x the widest released MLP (53248). */
  intermediateSize: 2 ** 18,
  /** 8x the deepest released model (126); weights and caches keep per-layer arrays. */
  layers: 1024,
  /** 8x the most query heads released (128); CUDA grids take at most 65535 heads. */
  heads: 1024,
  /** The CUDA attention and scoring kernels keep a head in shared memory of 256 floats. */
  headDim: 256,
  /**
   * 2^27 (134M) positions: 12x Llama 4 Scout's 10M. RoPE tables grow with the positions
   * a run uses, so a long configured context costs nothing at load.
   */
  maxPositionEmbeddings: 2 ** 27,
} as const;

const positiveInt = z.number({ message: POSITIVE_INT }).int({ message: POSITIVE_INT }).positive({
  message: POSITIVE_INT,
}).safe({ message: POSITIVE_INT });
/** A positive integer at most `max`; the message says why the bound exists. */
const boundedInt = (max: number, why: string) =>
  positiveInt.max(max, { message: `expected a positive integer up to ${max} (${why})` });
const positiveNumber = z.number({ message: POSITIVE_NUMBER }).positive({ message: POSITIVE_NUMBER }).finite({
  message: POSITIVE_NUMBER,
});
const flag = z.boolean({ message: BOOLEAN });
// Token ids are int32 on every path (Int32Array prompts, the argmax kernel); the cross-check
// against vocab_size happens in parseConfig.
const tokenId = z.number({ message: TOKEN_IDS }).int({ message: TOKEN_IDS }).nonnegative({
  message: TOKEN_IDS,
}).lt(2 ** 31, { message: TOKEN_IDS });
const tokenIds = z.union([tokenId, z.array(tokenId, { message: TOKEN_IDS }), z.null()], {
  errorMap: () => ({ message: TOKEN_IDS }),
});
const maxPositions = boundedInt(
  CONFIG_LIMITS.maxPositionEmbeddings,
  "lukv's limit on positions, 12x the longest released context",
);
// The base must be at least 1 so that 1 / theta^(2i / headDim) stays finite and at most 1
// (frequencies falling along the head); below it a tiny base overflows to Infinity.
const ropeTheta = z.number({ message: "expected a number >= 1" }).finite({
  message: "expected a number >= 1",
})
  .gte(1, { message: "expected a number >= 1" });
const ropeScalingSchema = z.object({
  type: z.string({ message: "expected a string" }).optional(),
  rope_type: z.string({ message: "expected a string" }).optional(),
  rope_theta: ropeTheta.optional(),
  factor: positiveNumber.optional(),
  low_freq_factor: positiveNumber.optional(),
  high_freq_factor: positiveNumber.optional(),
  original_max_position_embeddings: maxPositions.optional(),
}, { message: "expected an object or null" }).passthrough().nullable().optional();

const identitySchema = z.object({
  architectures: z.array(z.string({ message: "expected a string" }), {
    message: "expected a list of strings",
  })
    .optional(),
  model_type: z.string({ message: "expected a string" }).optional(),
}, { message: "expected a JSON object" }).passthrough();

// The fields lukv reads (unknown ones pass through); parseConfig checks the architecture
// and the rules across fields (head counts dividing, rope scaling fields per type).
const L = CONFIG_LIMITS;
const configSchema = identitySchema.extend({
  vocab_size: boundedInt(L.vocabSize, "token ids must stay exact in int32 and float32"),
  hidden_size: boundedInt(L.hiddenSize, "lukv's limit, 4x the widest released model"),
  intermediate_size: boundedInt(L.intermediateSize, "lukv's limit, 5x the widest released MLP"),
  num_hidden_layers: boundedInt(L.layers, "lukv's limit, 8x the deepest released model"),
  num_attention_heads: boundedInt(L.heads, "lukv's limit, 8x the most heads released"),
  num_key_value_heads: boundedInt(L.heads, "lukv's limit, 8x the most heads released").nullable()
    .optional(),
  head_dim: boundedInt(L.headDim, "the CUDA attention kernels hold a head of at most 256").nullable()
    .optional(),
  hidden_act: z.literal("silu", {
    errorMap: () => ({ message: 'expected "silu" (the SwiGLU MLP of this family)' }),
  }).optional(),
  // An epsilon of 1 or more would swamp the mean square of the activations it guards.
  rms_norm_eps: positiveNumber.lt(1, { message: "expected a positive number below 1" }).optional(),
  rope_theta: ropeTheta.optional(),
  rope_scaling: ropeScalingSchema,
  rope_parameters: ropeScalingSchema,
  max_position_embeddings: maxPositions,
  tie_word_embeddings: flag.optional(),
  attention_bias: flag.optional(),
  mlp_bias: flag.optional(),
  sliding_window: maxPositions.nullable().optional(),
  use_sliding_window: flag.optional(),
  bos_token_id: tokenIds.optional(),
  eos_token_id: tokenIds.optional(),
});

/**
 * Validates a parsed `config.json` and normalises it. Every bad or missing field is one
 * line of the LukvError (FORMAT), naming `file` and the field; an architecture outside
 * {@linkcode SUPPORTED_ARCHITECTURES} is an error that lists the supported ones.
 *
 * @example
 * ```ts
 * const config = parseConfig(JSON.parse(await Deno.readTextFile("models/tiny/config.json")));
 * config.heads / config.kvHeads; // query heads per KV head
 * ```
 */
export function parseConfig(raw: unknown, file = "config.json"): ModelConfig {
  // The architecture first: another family fails on it, not on the fields it names differently.
  const identity = identitySchema.safeParse(raw);
  if (!identity.success) throw configError(issueLines(file, identity.error.issues, raw));
  const architecture = pickArchitecture(identity.data.architectures, identity.data.model_type, file);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw configError(issueLines(file, parsed.error.issues, raw));
  const c = parsed.data;
  const problems: string[] = [];
  const problem = (field: string, message: string) =>
    problems.push(`${file}: field \`${field}\`: ${message}`);

  const heads = c.num_attention_heads;
  const kvHeads = c.num_key_value_heads ?? heads;
  if (heads % kvHeads !== 0) {
    problem("num_key_value_heads", `${kvHeads} does not divide num_attention_heads (${heads})`);
  }
  let headDim = c.head_dim ?? c.hidden_size / heads;
  if (c.head_dim == null && c.hidden_size % heads !== 0) {
    problem(
      "num_attention_heads",
      `${heads} does not divide hidden_size (${c.hidden_size}) and head_dim is absent`,
    );
    headDim = Math.floor(headDim);
  }
  if (c.head_dim == null && headDim > CONFIG_LIMITS.headDim) {
    problem(
      "hidden_size",
      `hidden_size / num_attention_heads = ${headDim} exceeds the head dimension limit ` +
        `${CONFIG_LIMITS.headDim} (the CUDA attention kernels hold a head of at most 256)`,
    );
  }
  if (headDim % 2 !== 0) {
    problem(
      c.head_dim == null ? "hidden_size" : "head_dim",
      `the head dimension ${headDim} must be even for RoPE`,
    );
  }
  const isQwen2 = architecture === "Qwen2ForCausalLM";
  const isQwen = isQwen2 || architecture === "Qwen3ForCausalLM";
  if (isQwen && c.use_sliding_window === true) {
    problem("use_sliding_window", "true is not supported: lukv attends to the whole context in every layer");
  }
  const ropeField = c.rope_scaling != null ? "rope_scaling" : "rope_parameters";
  const ropeScaling = normaliseRopeScaling(c.rope_scaling ?? c.rope_parameters, ropeField, problem);
  // The full-context KV cache is the largest size computed from the config (keys and
  // values, f32, every layer); every other product of these fields is smaller.
  const kvBytes = c.num_hidden_layers * 2 * kvHeads * headDim * c.max_position_embeddings * 4;
  if (!Number.isSafeInteger(kvBytes)) {
    problem(
      "max_position_embeddings",
      `${c.max_position_embeddings} positions make a full KV cache of ${kvBytes.toExponential(2)} bytes ` +
        `(num_hidden_layers x 2 x num_key_value_heads x head_dim x positions x 4), beyond 2^53`,
    );
  }
  const checkToken = (field: string, value: number | number[] | null | undefined) => {
    for (const tokenId of value == null ? [] : typeof value === "number" ? [value] : value) {
      if (tokenId >= c.vocab_size) {
        problem(field, `token id ${tokenId} is not below vocab_size (${c.vocab_size})`);
      }
    }
  };
  checkToken("bos_token_id", c.bos_token_id);
  checkToken("eos_token_id", c.eos_token_id);
  if (problems.length > 0) throw configError(problems);

  const attentionBias = c.attention_bias ?? false;
  return {
    architecture,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    layers: c.num_hidden_layers,
    heads,
    kvHeads,
    headDim,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta: c.rope_theta ?? c.rope_parameters?.rope_theta ?? 10000,
    ropeScaling,
    maxPositionEmbeddings: c.max_position_embeddings,
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    qkvBias: isQwen2 || (architecture !== "MistralForCausalLM" && attentionBias),
    oBias: !isQwen2 && architecture !== "MistralForCausalLM" && attentionBias,
    mlpBias: architecture === "LlamaForCausalLM" && (c.mlp_bias ?? false),
    qkNorm: architecture === "Qwen3ForCausalLM",
    slidingWindow: architecture === "MistralForCausalLM" ? c.sliding_window ?? null : null,
    bosTokenId: typeof c.bos_token_id === "number" ? c.bos_token_id : c.bos_token_id?.[0] ?? null,
    eosTokenIds: c.eos_token_id == null
      ? []
      : typeof c.eos_token_id === "number"
      ? [c.eos_token_id]
      : c.eos_token_id,
  };
}

/**
 * Reads and validates `dir/config.json` (see {@linkcode parseConfig}).
 *
 * @example
 * ```ts
 * const config = await loadConfig("models/tiny"); // config.layers, config.kvHeads, ...
 * ```
 */
export async function loadConfig(dir: string): Promise<ModelConfig> {
  return parseConfig(await readJsonFile("config", dir, "config.json"));
}

function configError(lines: string[]): LukvError {
  return new LukvError("config", STATUS.FORMAT, lines.join("\n"));
}

function pickArchitecture(architectures: string[] | undefined, modelType: string | undefined, file: string) {
  const supported: readonly string[] = SUPPORTED_ARCHITECTURES;
  const found = architectures?.find((a) => supported.includes(a)) as Architecture | undefined;
  if (found !== undefined) return found;
  const list = SUPPORTED_ARCHITECTURES.join(", ");
  if (architectures !== undefined && architectures.length > 0) {
    throw configError([
      `${file}: field \`architectures\`: ${
        describeValue(architectures)
      } is not supported (supported: ${list})`,
    ]);
  }
  if (modelType !== undefined && Object.hasOwn(MODEL_TYPES, modelType)) return MODEL_TYPES[modelType];
  throw configError([
    `${file}: field \`architectures\` is missing and model_type is ${describeValue(modelType)} ` +
    `(supported: ${list})`,
  ]);
}

function normaliseRopeScaling(
  scaling: z.infer<typeof ropeScalingSchema>,
  field: string,
  problem: (field: string, message: string) => void,
): RopeScaling | null {
  if (scaling == null) return null;
  const type = scaling.type ?? scaling.rope_type;
  if (type === undefined) {
    if (field === "rope_parameters") return null;
    problem(`${field}.type`, 'is missing (expected "linear" or "llama3", as `type` or `rope_type`)');
    return null;
  }
  if (type === "default") return null;
  const need = (name: keyof typeof scaling & string): number => {
    const value = scaling[name];
    if (typeof value !== "number") problem(`${field}.${name}`, `is missing (required by rope type ${type})`);
    return value as number;
  };
  if (type === "linear") return { type, factor: need("factor") };
  if (type === "llama3") {
    const result = {
      type,
      factor: need("factor"),
      lowFreqFactor: need("low_freq_factor"),
      highFreqFactor: need("high_freq_factor"),
      originalMaxPositionEmbeddings: need("original_max_position_embeddings"),
    } as const;
    if (result.highFreqFactor <= result.lowFreqFactor) {
      problem(
        `${field}.high_freq_factor`,
        `${result.highFreqFactor} must be greater than low_freq_factor (${result.lowFreqFactor})`,
      );
    }
    return result;
  }
  problem(`${field}.type`, `${describeValue(type)} is not supported (supported: linear, llama3)`);
  return null;
}

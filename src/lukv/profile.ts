/** lukv's own LU-KV profile: the averaged budget table plus how it was made, as versioned JSON (zod schema). */

import { z } from "zod";
import { LukvError, STATUS } from "../backend/errors.ts";
import { budgetStats, type RatioStats } from "./budgets.ts";
import { budgetRatios, type BudgetTable, checkBudgetTable, RATIO_COUNT } from "./tables.ts";

/** The `version` field written by this release; readers refuse other versions. */
export const PROFILE_VERSION = 1;

const count = z.number().int().positive();
const fraction = z.number().min(0).max(1);

const ProfileJson = z.object({
  format: z.literal("lukv-profile"),
  version: z.literal(PROFILE_VERSION),
  model: z.object({
    id: z.string().min(1),
    layers: count,
    kvHeads: count,
    queryHeads: count.optional(),
    headDim: count.optional(),
    weights: z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits").optional(),
  }).strict(),
  scorer: z.object({
    name: z.string().min(1),
    params: z.record(z.union([z.number(), z.string(), z.boolean()])),
  }).strict(),
  sink: z.number().int().nonnegative(),
  window: z.number().int().nonnegative(),
  decodeTokens: count,
  scope: z.enum(["global", "layer"]),
  minKeepFraction: fraction,
  calibration: z.object({
    name: z.string().min(1),
    pairs: count,
    samples: count.optional(),
    seed: z.number().int().optional(),
    minLength: count.optional(),
    maxLength: count.optional(),
  }).strict(),
  created: z.string().datetime(),
  prune: z.array(z.array(z.array(fraction))).length(RATIO_COUNT),
  stats: z.array(
    z.object({
      ratio: fraction,
      meanPrune: fraction,
      minPrune: fraction,
      maxPrune: fraction,
      pairStd: fraction,
    })
      .strict(),
  ).length(RATIO_COUNT),
}).strict();

type ProfileJson = z.infer<typeof ProfileJson>;

/**
 * An LU-KV profile: the `[99, L, H]` budget table averaged over a calibration set, and
 * the metadata needed to trust and reuse it (DESIGN.md 7.8).
 *
 * @example
 * ```ts
 * const profile = readProfile(await Deno.readTextFile("models/tiny/lukv-profile.json"));
 * const keep = keepCounts(profile.budgets, 0.8, 4096);
 * ```
 */
export interface Profile {
  /**
   * The model the budgets belong to: its id, its shape and (when profiled from loaded
   * weights) their fingerprint, {@linkcode Model.weightsFingerprint}.
   */
  model: {
    id: string;
    layers: number;
    kvHeads: number;
    queryHeads?: number;
    headDim?: number;
    weights?: string;
  };
  /** The token scorer whose ranking the curves followed, with its parameters. */
  scorer: { name: string; params: Record<string, number | string | boolean> };
  /** Protected leading tokens during profiling. */
  sink: number;
  /** Protected trailing tokens during profiling. */
  window: number;
  /** Decoded answer tokens `K` over which the oracle utility was taken. */
  decodeTokens: number;
  /** Whether heads competed across the model or within each layer. */
  scope: "global" | "layer";
  /** The solver's minimum keep fraction. */
  minKeepFraction: number;
  /** The calibration set: its name, (sample, question) pairs and sizes. */
  calibration: {
    name: string;
    pairs: number;
    samples?: number;
    seed?: number;
    minLength?: number;
    maxLength?: number;
  };
  /** ISO 8601 time of creation. */
  created: string;
  /** The averaged table; `layers` and `heads` equal the model's. */
  budgets: BudgetTable;
  /** Per-ratio statistics (see {@linkcode budgetStats}). */
  stats: RatioStats[];
}

/**
 * Serialises a profile as JSON text (format `lukv-profile`, version 1).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("profile.json", writeProfile(profile));
 * ```
 */
export function writeProfile(profile: Profile): string {
  const { budgets, ...meta } = profile;
  checkBudgetTable(budgets);
  const { layers, heads, prune } = budgets;
  const json: ProfileJson = {
    format: "lukv-profile",
    version: PROFILE_VERSION,
    ...meta,
    prune: Array.from(
      { length: RATIO_COUNT },
      (_, k) =>
        Array.from(
          { length: layers },
          (_, l) => Array.from(prune.subarray((k * layers + l) * heads, (k * layers + l + 1) * heads)),
        ),
    ),
  };
  validate(json, "profile to write");
  return JSON.stringify(json, null, 1) + "\n";
}

/**
 * Parses and validates a profile. Malformed JSON, a missing or bad field, another
 * version, or a table whose shape differs from `model` is a {@linkcode LukvError}
 * (code `FORMAT`) that names each offending field.
 *
 * @example
 * ```ts
 * const profile = readProfile(await Deno.readTextFile("profile.json"));
 * ```
 */
export function readProfile(text: string): Profile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LukvError("profile", STATUS.FORMAT, `not JSON: ${(e as Error).message}`);
  }
  const { format: _format, version: _version, prune, ...meta } = validate(raw, "profile");
  const { layers, kvHeads: heads } = meta.model;
  return {
    ...meta,
    budgets: { layers, heads, ratios: budgetRatios(), prune: Float64Array.from(prune.flat(2)) },
  };
}

/** Checks the schema and the table's shape against the model; returns the typed JSON. */
function validate(raw: unknown, what: string): ProfileJson {
  const parsed = ProfileJson.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) =>
      `field \`${issue.path.join(".") || "(root)"}\`: ${issue.message}`
    );
    throw new LukvError("profile", STATUS.FORMAT, `${what} is malformed:\n  ${lines.join("\n  ")}`);
  }
  const json = parsed.data;
  const { layers, kvHeads } = json.model;
  const bad = json.prune.findIndex((row) =>
    row.length !== layers || row.some((heads) => heads.length !== kvHeads)
  );
  if (bad >= 0) {
    throw new LukvError(
      "profile",
      STATUS.FORMAT,
      `${what}: field \`prune.${bad}\` is not [${layers}, ${kvHeads}] as model.layers and model.kvHeads say`,
    );
  }
  return json;
}

/**
 * A stand-in profile that gives every head the global ratio (so `lukv` behaves like
 * the uniform allocator with the profile's scorer). For demos and tests before a model
 * has been profiled; never a silent fallback: callers say when they use it.
 *
 * @example
 * ```ts
 * const profile = uniformProfile({ id: "models/tiny", layers: 4, kvHeads: 2 }, { name: "snapkv", params: {} });
 * ```
 */
export function uniformProfile(
  model: Profile["model"],
  scorer: Profile["scorer"],
  protections: { sink: number; window: number } = { sink: 4, window: 32 },
): Profile {
  const cells = model.layers * model.kvHeads;
  const ratios = budgetRatios();
  const prune = Float64Array.from({ length: RATIO_COUNT * cells }, (_, i) => ratios[Math.floor(i / cells)]);
  const budgets: BudgetTable = { layers: model.layers, heads: model.kvHeads, ratios, prune };
  return {
    model,
    scorer,
    ...protections,
    decodeTokens: 64,
    scope: "global",
    minKeepFraction: 0,
    calibration: { name: "uniform stand-in (not profiled)", pairs: 1 },
    created: new Date(0).toISOString(),
    budgets,
    stats: budgetStats([budgets]),
  };
}

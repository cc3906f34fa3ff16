/** Presses by name: a scorer under an allocator (`adakv-expected-attention`), composed from the two registries. */

import { LukvError, STATUS } from "../backend/errors.ts";
import type { Profile } from "../lukv/profile.ts";
import { adaKvKeep } from "./allocators/adakv.ts";
import { luKvLayerKeep } from "./allocators/lukv.ts";
import { pyramidLayerSizes } from "./allocators/pyramidkv.ts";
import { uniformKeep } from "./allocators/uniform.ts";
import { fullPress, type LayerAllocator, type Press, scoredPress } from "./press.ts";
import { makeScorer, SCORER_NAMES } from "./scorers/registry.ts";
import type { ScorerParams } from "./scorers/scorer.ts";

/** Allocator settings kvpress users can set. */
export interface AllocatorParams {
  /** AdaKV: the share of the mean budget every head is guaranteed (default 0.2, kvpress `alpha_safeguard`). */
  alpha?: number;
  /** PyramidKV: how much smaller the top layer's budget is than the mean (default 20, kvpress `beta`). */
  beta?: number;
}

/** Options of {@linkcode makePress}. */
export interface PressOptions {
  /** Protected leading tokens (default 4, StreamingLLM's sinks; `lukv-*` takes the profile's). */
  sink?: number;
  /** Protected trailing tokens (default 32; `lukv-*` takes the profile's). */
  window?: number;
  /** The scorer's parameters (unset ones take its defaults; `lukv-*` must match the profile's). */
  scorerParams?: ScorerParams;
  /** The allocator's parameters. */
  allocatorParams?: AllocatorParams;
  /** The LU-KV profile, for `lukv` and `lukv-<scorer>`. */
  profile?: Profile;
}

/** The allocators a scorer composes with; `lukv` is added by {@linkcode makePress} from the profile. */
const ALLOCATORS: Readonly<Record<string, (params: AllocatorParams) => LayerAllocator>> = {
  uniform: () => (_l, scores, { kvHeads, length }, ratio) =>
    uniformKeep({ layers: 1, heads: kvHeads, length, data: scores }, ratio),
  adakv: ({ alpha }) => (_l, scores, { kvHeads, length }, ratio) =>
    adaKvKeep({ layers: 1, heads: kvHeads, length, data: scores }, ratio, { alpha }),
  // The pyramid leaves room for every protected token where kvpress leaves room for its
  // observation window, so the protections never push a layer over its pyramid size.
  pyramidkv: ({ beta }) => (l, _scores, { layers, kvHeads, length, protectedTokens = 0 }, ratio) =>
    new Int32Array(kvHeads).fill(
      pyramidLayerSizes(layers, length, ratio, { beta, window: protectedTokens })[l],
    ),
};

/** Composing prefixes: `<allocator>-<scorer>`. */
const PREFIXES = ["adakv", "pyramidkv", "lukv"] as const;

/** Short names kept from before composition: `adakv` is `adakv-snapkv`, `pyramidkv` is `pyramidkv-snapkv`. */
const ALIASES: Readonly<Record<string, string>> = { adakv: "adakv-snapkv", pyramidkv: "pyramidkv-snapkv" };

/**
 * Every press name: `full`; each scorer alone (uniform budgets); `adakv-`, `pyramidkv-`
 * and `lukv-` before each scorer; the aliases `adakv`, `pyramidkv`; and `lukv` (the
 * profile's own scorer).
 */
export const PRESS_NAMES: readonly string[] = [
  "full",
  ...SCORER_NAMES,
  ...PREFIXES.flatMap((prefix) => SCORER_NAMES.map((scorer) => `${prefix}-${scorer}`)),
  ...Object.keys(ALIASES),
  "lukv",
];

/**
 * How press names compose, for usage texts.
 *
 * @example
 * ```ts
 * console.log(PRESS_GRAMMAR); // "full | SCORER | adakv-SCORER | ... (SCORER: snapkv, expected-attention, ...)"
 * ```
 */
export const PRESS_GRAMMAR: string = `full | SCORER | adakv-SCORER | pyramidkv-SCORER | lukv-SCORER | ` +
  `adakv | pyramidkv | lukv (SCORER: ${SCORER_NAMES.join(", ")})`;

/**
 * The scorer and allocator a press name stands for, or a LukvError listing what composes.
 *
 * @example
 * ```ts
 * parsePressName("adakv-keydiff"); // { allocator: "adakv", scorer: "keydiff" }
 * parsePressName("lukv");          // { allocator: "lukv", scorer: null } (the profile's)
 * ```
 */
export function parsePressName(name: string): { allocator: string; scorer: string | null } {
  const full = Object.hasOwn(ALIASES, name) ? ALIASES[name] : name;
  if (full === "full") return { allocator: "none", scorer: null };
  if (full === "lukv") return { allocator: "lukv", scorer: null };
  if (SCORER_NAMES.includes(full)) return { allocator: "uniform", scorer: full };
  for (const prefix of PREFIXES) {
    const scorer = full.slice(prefix.length + 1);
    if (full.startsWith(`${prefix}-`) && SCORER_NAMES.includes(scorer)) return { allocator: prefix, scorer };
  }
  throw new LukvError("press", STATUS.INVALID_ARGUMENT, `unknown press "${name}"; presses: ${PRESS_GRAMMAR}`);
}

/**
 * A press by name (see {@linkcode PRESS_NAMES}). `lukv-<scorer>` needs a profile made
 * with that scorer, the same parameters and protections: a mismatch is a LukvError naming
 * both sides; `lukv` takes the profile's scorer.
 *
 * @example
 * ```ts
 * const press = makePress("adakv-expected-attention", { scorerParams: { epsilon: 0.01 } });
 * const lukv = makePress("lukv-snapkv", { profile: readProfile(await Deno.readTextFile("models/tiny/lukv-snapkv.json")) });
 * ```
 */
export function makePress(name: string, options: PressOptions = {}): Press {
  const { allocator, scorer } = parsePressName(name);
  if (allocator === "none") {
    if (options.scorerParams && Object.keys(options.scorerParams).length > 0) {
      throw new LukvError("press", STATUS.INVALID_ARGUMENT, `press full has no scorer to take parameters`);
    }
    return fullPress();
  }
  if (allocator === "lukv") return luKvPress(name, scorer, options);
  const protections = { sink: options.sink ?? 4, window: options.window ?? 32 };
  return scoredPress(
    name,
    makeScorer(scorer!, options.scorerParams),
    allocator,
    ALLOCATORS[allocator](options.allocatorParams ?? {}),
    protections,
  );
}

function luKvPress(name: string, wanted: string | null, options: PressOptions): Press {
  const { profile, sink, window } = options;
  if (!profile) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `press ${name} needs a profile (deno task profile writes one)`,
    );
  }
  const scorerName = wanted ?? profile.scorer.name;
  // Plain `lukv` runs the profile's scorer as profiled; `lukv-<scorer>` runs the defaults
  // (or the parameters given), so a profile made with other parameters is refused.
  const base = wanted === null ? profile.scorer.params as ScorerParams : {};
  const made = makeScorer(scorerName, { ...base, ...options.scorerParams });
  const recorded = profile.scorer.name === scorerName
    ? makeScorer(scorerName, profile.scorer.params as ScorerParams).params
    : null;
  const differs = recorded && Object.keys(made.params).filter((k) => made.params[k] !== recorded[k]);
  const mismatches = [
    !recorded && `scorer ${scorerName} (profile: ${profile.scorer.name})`,
    differs && differs.length > 0 &&
    `${differs.map((k) => `${k} ${made.params[k]}`).join(", ")} (profile: ${
      differs.map((k) => `${k} ${recorded![k]}`).join(", ")
    })`,
    sink !== undefined && sink !== profile.sink && `sink ${sink} (profile: ${profile.sink})`,
    window !== undefined && window !== profile.window && `window ${window} (profile: ${profile.window})`,
  ].filter(Boolean);
  if (mismatches.length > 0) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `profile "${profile.model.id}" was made with other settings: asked for ${mismatches.join(", ")}; ` +
        `profile again with these settings (deno task profile) or use the profile's`,
    );
  }
  const allocator: LayerAllocator = (l, _scores, { length }, ratio) =>
    luKvLayerKeep(profile, l, ratio, length);
  return scoredPress(name, made, "lukv", allocator, { sink: profile.sink, window: profile.window });
}

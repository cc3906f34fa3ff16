/** The presses of an evaluation, by name: presets, and `lukv` once per LU-KV profile (labelled `lukv-<scorer>`). */

import { LukvError, STATUS } from "../backend/errors.ts";
import type { Profile } from "../lukv/profile.ts";
import { readProfileFile } from "../pipeline/presses.ts";
import { checkProfileFits } from "../press/allocators/lukv.ts";
import type { Press } from "../press/press.ts";
import { makePress, parsePressName, PRESS_GRAMMAR } from "../press/registry.ts";
import { scorerParamNames } from "../press/scorers/registry.ts";
import type { ScorerParams } from "../press/scorers/scorer.ts";

/**
 * A press under the label its results carry.
 *
 * @example
 * ```ts
 * const entry: EvalPress = makeEvalPress("lukv-snapkv", { profile }); // label "lukv-snapkv"
 * ```
 */
export interface EvalPress {
  /** The press name, `lukv-<scorer>` for an LU-KV profile. */
  label: string;
  /** The LU-KV profile, for `lukv-<scorer>`. */
  profile?: Profile;
  /** The scorer parameters given for this press (the rest are the scorer's defaults). */
  scorerParams?: ScorerParams;
  /** The press. */
  press: Press;
}

/**
 * The press of a name (with its profile for `lukv-<scorer>`) and the scorer parameters
 * that apply to its scorer, under its label, so that presses rebuilt from plain data
 * (e.g. in a worker) match.
 *
 * @example
 * ```ts
 * makeEvalPress("adakv-expected-attention", { scorerParams: { epsilon: 0.01 } }).label; // "adakv-expected-attention"
 * ```
 */
export function makeEvalPress(
  name: string,
  { profile, scorerParams }: { profile?: Profile; scorerParams?: ScorerParams } = {},
): EvalPress {
  const label = name === "lukv" && profile ? `lukv-${profile.scorer.name}` : name;
  const press = makePress(label, { profile, scorerParams });
  return { label, press, ...(profile && { profile }), ...(scorerParams && { scorerParams }) };
}

/**
 * The parameters of `params` that scorer `name` takes (each press gets those its scorer
 * takes, so one `--scorer-param epsilon=0.02` reaches every Expected Attention press).
 *
 * @example
 * ```ts
 * paramsForScorer("snapkv", { epsilon: 0.02, window: 64 }); // { window: 64 }
 * ```
 */
export function paramsForScorer(name: string | null, params: ScorerParams): ScorerParams | undefined {
  if (!name) return undefined;
  const names = scorerParamNames(name);
  const own = Object.entries(params).filter(([key]) => names.includes(key));
  return own.length > 0 ? Object.fromEntries(own) : undefined;
}

/**
 * The presses the sweep compares (`lukv` stands for every profile).
 *
 * @example
 * ```ts
 * DEFAULT_PRESSES.join(","); // "full,streamingllm,snapkv,pyramidkv-snapkv,adakv-snapkv,expected-attention,..."
 * ```
 */
export const DEFAULT_PRESSES: readonly string[] = [
  "full",
  "streamingllm",
  "snapkv",
  "pyramidkv-snapkv",
  "adakv-snapkv",
  "expected-attention",
  "adakv-expected-attention",
  "lukv",
];

/**
 * Reads LU-KV profiles by scorer: from `specs` (`"snapkv=path.json"`, or a bare path whose
 * scorer is the profile's), else every `lukv-<scorer>.json` in the model folder. A profile
 * whose scorer differs from the one it is filed under, or that cannot be read, is an
 * error naming the file.
 *
 * @example
 * ```ts
 * const profiles = await loadProfiles(["snapkv=models/tiny/lukv-snapkv.json"], "models/tiny");
 * profiles.get("snapkv")?.budgets.layers; // 4
 * ```
 */
export async function loadProfiles(
  specs: readonly string[],
  modelDir: string,
): Promise<Map<string, Profile>> {
  const entries: [string | null, string][] = specs.length > 0
    ? specs.map((spec) => {
      const at = spec.indexOf("=");
      return at > 0 && !spec.slice(0, at).includes("/")
        ? [spec.slice(0, at), spec.slice(at + 1)]
        : [null, spec];
    })
    : await profilesIn(modelDir);
  const profiles = new Map<string, Profile>();
  for (const [scorer, path] of entries) {
    const profile = readProfileFile(path, scorer ?? "SCORER", modelDir);
    const name = scorer ?? profile.scorer.name;
    if (name !== profile.scorer.name) {
      throw new LukvError(
        "profile",
        STATUS.INVALID_ARGUMENT,
        `${path} was made with scorer ${profile.scorer.name}, not ${name}`,
      );
    }
    if (profiles.has(name)) {
      throw new LukvError("press", STATUS.INVALID_ARGUMENT, `two profiles for scorer ${name}`);
    }
    profiles.set(name, profile);
  }
  return profiles;
}

/** `[scorer, path]` of every `lukv-<scorer>.json` in `dir`, by name. */
async function profilesIn(dir: string): Promise<[string, string][]> {
  const found: [string, string][] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = /^lukv-(.+)\.json$/.exec(entry.name);
    if (entry.isFile && match) found.push([match[1], `${dir}/${entry.name}`]);
  }
  return found.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
}

/**
 * The presses named in `names`, in order: any press name (see `PRESS_NAMES`), where
 * `lukv` stands for one press per profile (labelled `lukv-<scorer>`) and
 * `lukv-<scorer>` for that profile. `scorerParams` reach every press whose scorer takes
 * them; a parameter no press takes is an error. Unknown names, repeated labels, `lukv`
 * without a profile, and a profile whose shape is not the model's are errors saying what
 * was expected.
 *
 * @example
 * ```ts
 * const presses = evalPresses(["full", "snapkv", "lukv"], profiles, { id: "models/tiny", layers: 4, kvHeads: 2 });
 * presses.map((p) => p.label); // ["full", "snapkv", "lukv-expected-attention", "lukv-snapkv"]
 * ```
 */
export function evalPresses(
  names: readonly string[],
  profiles: ReadonlyMap<string, Profile>,
  model: { id: string; layers: number; kvHeads: number; weights?: string },
  scorerParams: ScorerParams = {},
): EvalPress[] {
  const presses: EvalPress[] = [];
  const add = (entry: EvalPress) => {
    if (presses.some((p) => p.label === entry.label)) {
      throw new LukvError("press", STATUS.INVALID_ARGUMENT, `press ${entry.label} is named twice`);
    }
    presses.push(entry);
  };
  for (const name of names) {
    const { allocator, scorer } = parsePressName(name);
    if (allocator !== "lukv") {
      add(makeEvalPress(name, { scorerParams: paramsForScorer(scorer, scorerParams) }));
      continue;
    }
    const wanted = scorer ? [scorer] : [...profiles.keys()];
    if (wanted.length === 0) {
      throw new LukvError(
        "press",
        STATUS.INVALID_ARGUMENT,
        `press lukv needs a profile: pass --profile SCORER=PATH, or put lukv-<scorer>.json in ${model.id} ` +
          `(deno task profile writes one)`,
      );
    }
    for (const scorerName of wanted) {
      const profile = profiles.get(scorerName);
      if (!profile) {
        throw new LukvError(
          "press",
          STATUS.INVALID_ARGUMENT,
          `press ${name} needs a ${scorerName} profile; have ${
            profiles.size > 0 ? [...profiles.keys()].join(", ") : "none"
          } (pass --profile ${scorerName}=PATH or put lukv-${scorerName}.json in ${model.id})`,
        );
      }
      checkProfileFits(profile, model);
      add(
        makeEvalPress(`lukv-${scorerName}`, {
          profile,
          scorerParams: paramsForScorer(scorerName, scorerParams),
        }),
      );
    }
  }
  const unused = Object.keys(scorerParams).filter((key) =>
    !presses.some((p) => p.press.scorer && scorerParamNames(p.press.scorer.name).includes(key))
  );
  if (unused.length > 0) {
    throw new LukvError(
      "press",
      STATUS.INVALID_ARGUMENT,
      `no press's scorer takes ${unused.join(", ")} (presses: ${
        presses.map((p) => p.label).join(", ")
      }; ${PRESS_GRAMMAR})`,
    );
  }
  return presses;
}

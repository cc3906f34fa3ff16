/** The presses of an evaluation, by name: presets, and `lukv` once per LU-KV profile (labelled `lukv-<scorer>`). */

import { LukvError, STATUS } from "../backend/errors.ts";
import { type Profile, readProfile } from "../lukv/profile.ts";
import { checkProfileFits } from "../press/allocators/lukv.ts";
import type { Press } from "../press/press.ts";
import { makePress, PRESS_NAMES } from "../press/presets.ts";

/**
 * A press under the label its results carry.
 *
 * @example
 * ```ts
 * const entry: EvalPress = makeEvalPress("lukv", profile); // label "lukv-snapkv"
 * ```
 */
export interface EvalPress {
  /** `full`, a preset name, or `lukv-<scorer>`. */
  label: string;
  /** The preset it was made from (`lukv` for `lukv-<scorer>`). */
  preset: string;
  /** The LU-KV profile, for `lukv`. */
  profile?: Profile;
  /** The press. */
  press: Press;
}

/**
 * The press of a preset (with its profile for `lukv`), under its label: the preset's
 * name, or `lukv-<scorer>` (so presses rebuilt from plain data, e.g. in a worker, match).
 *
 * @example
 * ```ts
 * makeEvalPress("lukv", profile).label; // "lukv-snapkv"
 * ```
 */
export function makeEvalPress(preset: string, profile?: Profile): EvalPress {
  if (preset !== "lukv") return { label: preset, preset, press: makePress(preset) };
  if (!profile) throw new LukvError("press", STATUS.INVALID_ARGUMENT, "the lukv press needs a profile");
  const scorer = profile.scorer.name;
  return { label: `lukv-${scorer}`, preset, profile, press: makePress("lukv", { profile, scorer }) };
}

/**
 * The presses the sweep compares (`lukv` stands for every profile).
 *
 * @example
 * ```ts
 * DEFAULT_PRESSES.join(","); // "full,streamingllm,snapkv,pyramidkv,adakv,expected-attention,lukv"
 * ```
 */
export const DEFAULT_PRESSES: readonly string[] = [
  "full",
  "streamingllm",
  "snapkv",
  "pyramidkv",
  "adakv",
  "expected-attention",
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
    let profile: Profile;
    try {
      profile = readProfile(await Deno.readTextFile(path));
    } catch (e) {
      throw new LukvError("profile", STATUS.FORMAT, `${path}: ${(e as Error).message}`);
    }
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
 * The presses named in `names`, in order: `full`, presets (see `PRESS_NAMES`), `lukv`
 * (one press per profile, labelled `lukv-<scorer>`) or `lukv-<scorer>` (that profile).
 * Unknown names, repeated labels, `lukv` without a profile, and a profile whose shape is
 * not the model's are errors saying what was expected.
 *
 * @example
 * ```ts
 * const presses = evalPresses(["full", "snapkv", "lukv"], profiles, { id: "models/tiny", layers: 4, kvHeads: 2 });
 * presses.map((p) => p.label); // ["full", "snapkv", "lukv-snapkv", "lukv-expected-attention"]
 * ```
 */
export function evalPresses(
  names: readonly string[],
  profiles: ReadonlyMap<string, Profile>,
  model: { id: string; layers: number; kvHeads: number; weights?: string },
): EvalPress[] {
  const presses: EvalPress[] = [];
  const add = (entry: EvalPress) => {
    if (presses.some((p) => p.label === entry.label)) {
      throw new LukvError("press", STATUS.INVALID_ARGUMENT, `press ${entry.label} is named twice`);
    }
    presses.push(entry);
  };
  for (const name of names) {
    if (name === "lukv" || name.startsWith("lukv-")) {
      const wanted = name === "lukv" ? [...profiles.keys()] : [name.slice("lukv-".length)];
      if (wanted.length === 0) {
        throw new LukvError(
          "press",
          STATUS.INVALID_ARGUMENT,
          `press lukv needs a profile: pass --profile SCORER=PATH, or put lukv-<scorer>.json in ${model.id} ` +
            `(deno task profile writes one)`,
        );
      }
      for (const scorer of wanted) {
        const profile = profiles.get(scorer);
        if (!profile) {
          throw new LukvError(
            "press",
            STATUS.INVALID_ARGUMENT,
            `press ${name} needs a ${scorer} profile; have ${
              profiles.size > 0 ? [...profiles.keys()].join(", ") : "none"
            } (pass --profile ${scorer}=PATH or put lukv-${scorer}.json in ${model.id})`,
          );
        }
        checkProfileFits(profile, model);
        add(makeEvalPress("lukv", profile));
      }
    } else if (PRESS_NAMES.includes(name)) {
      add(makeEvalPress(name));
    } else {
      throw new LukvError(
        "press",
        STATUS.INVALID_ARGUMENT,
        `unknown press "${name}"; available: ${PRESS_NAMES.join(", ")}, lukv-<scorer>`,
      );
    }
  }
  return presses;
}

/** Presses for a model: a name plus options, with LU-KV profiles found in the model folder by name. */

import { LukvError, STATUS } from "../backend/errors.ts";
import { type Profile, readProfile } from "../lukv/profile.ts";
import { checkProfileFits } from "../press/allocators/lukv.ts";
import type { Press } from "../press/press.ts";
import { makePress, parsePressName, type PressOptions } from "../press/registry.ts";
import type { ModelRuntime } from "../model/model.ts";

/** The scorers whose profile `lukv` alone means, in order of preference: the first found in the model folder. */
export const DEFAULT_PROFILE_SCORERS: readonly string[] = ["expected-attention", "snapkv", "keydiff"];

/**
 * The path a `lukv-<scorer>` press looks for in a model folder.
 *
 * @example
 * ```ts
 * profilePath("models/tiny", "snapkv"); // "models/tiny/lukv-snapkv.json"
 * ```
 */
export function profilePath(dir: string, scorer: string): string {
  return `${dir.replace(/\/+$/, "")}/lukv-${scorer}.json`;
}

/**
 * Reads and checks a profile file; a missing or malformed file is a LukvError naming it
 * and the command that makes it.
 *
 * @example
 * ```ts
 * const profile = readProfileFile("models/tiny/lukv-snapkv.json", "snapkv");
 * ```
 */
export function readProfileFile(path: string, scorer: string, modelDir = "MODEL"): Profile {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new LukvError(
      "profile",
      STATUS.NOT_FOUND,
      `no LU-KV profile at ${path}; make it with: ` +
        `deno task profile --model ${modelDir} --scorer ${scorer} --out ${path}`,
    );
  }
  try {
    return readProfile(text);
  } catch (error) {
    throw new LukvError("profile", STATUS.FORMAT, `${path}: ${(error as Error).message}`);
  }
}

/**
 * The press `name` for `model`: `press` objects pass through; `lukv-<scorer>` without a
 * profile loads `lukv-<scorer>.json` from the model folder, `lukv` the first of
 * {@linkcode DEFAULT_PROFILE_SCORERS} found there; the profile must fit the model's
 * shape and weights.
 *
 * @example
 * ```ts
 * const press = pressFor(model, "lukv-snapkv"); // reads models/tiny/lukv-snapkv.json
 * ```
 */
export function pressFor(model: ModelRuntime, name: string | Press, options: PressOptions = {}): Press {
  if (typeof name !== "string") return name;
  const { allocator, scorer } = parsePressName(name);
  if (allocator !== "lukv") return makePress(name, options);
  const profile = options.profile ?? defaultProfile(model, scorer);
  checkProfileFits(profile, { ...model.config, weights: model.weightsFingerprint });
  return makePress(name, { ...options, profile });
}

function defaultProfile(model: ModelRuntime, scorer: string | null): Profile {
  if (scorer) return readProfileFile(profilePath(model.dir, scorer), scorer, model.dir);
  for (const candidate of DEFAULT_PROFILE_SCORERS) {
    const path = profilePath(model.dir, candidate);
    try {
      Deno.statSync(path);
    } catch {
      continue;
    }
    return readProfileFile(path, candidate, model.dir);
  }
  throw new LukvError(
    "profile",
    STATUS.NOT_FOUND,
    `press lukv found no profile in ${model.dir} (looked for ${
      DEFAULT_PROFILE_SCORERS.map((s) => `lukv-${s}.json`).join(", ")
    }); make one with: deno task profile --model ${model.dir} --scorer snapkv --out ${
      profilePath(model.dir, "snapkv")
    }`,
  );
}

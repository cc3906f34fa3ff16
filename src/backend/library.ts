/** Finds, builds if needed, opens and version-checks a native lukv library. */

import {
  BuildError,
  compileCpuLibrary,
  CPU_SOURCES,
  hasNvidiaGpu,
  libraryFileName,
  type LibraryKind,
  MODULE_ROOT,
} from "../../ffi/build.ts";
import { LukvError, STATUS } from "./errors.ts";
import { sha256Hex } from "./sha256.ts";
import { ABI_VERSION, SYMBOLS } from "./symbols.ts";

/** An opened native library and where it came from. */
export interface NativeLibrary {
  /** Which library: `"cpu"` or `"cuda"`. */
  kind: LibraryKind;
  /** The file that was opened. */
  path: string;
  /** The Deno handle; `library.symbols` are the ABI functions. */
  library: Deno.DynamicLibrary<typeof SYMBOLS>;
}

/**
 * Opens the `kind` library. Search order: `$LUKV_LIB_DIR` alone when it is set (an
 * explicit choice is never second-guessed); otherwise `build/` beside the module, then
 * a per-user cache folder, where the CPU library is compiled from the module's own
 * sources when missing. A failure lists every path tried and the command that fixes it.
 *
 * @example
 * ```ts
 * const { library, path } = await loadLibrary("cpu");
 * console.log(path, library.symbols.lukv_abi_version());
 * ```
 */
export async function loadLibrary(kind: LibraryKind): Promise<NativeLibrary> {
  const file = libraryFileName(kind);
  const tried: string[] = [];
  const explicit = Deno.env.get("LUKV_LIB_DIR");
  const fix = kind === "cpu"
    ? "run `deno task build` in the lukv folder, or set LUKV_LIB_DIR to a folder holding " + file
    : hasNvidiaGpu()
    ? "run `deno task build` on this machine with nvcc (the CUDA toolkit), or set LUKV_LIB_DIR"
    : "no CUDA device found (no NVIDIA GPU on this machine; `deno task build --cuda` compiles the library anyway)";
  const fail = (): never => {
    throw new LukvError(
      "load",
      STATUS.LOAD,
      `cannot load ${file}; tried:\n${tried.map((line) => `  - ${line}`).join("\n")}\nfix: ${fix}`,
    );
  };

  const candidates = explicit ? [`${explicit.replace(/\/$/, "")}/${file}`] : localCandidates(file);
  for (const path of candidates) {
    const opened = open(kind, path, tried);
    if (opened) return opened;
  }
  if (explicit || kind !== "cpu") return fail();

  const cached = `${await cacheFolder()}/${file}`;
  if (!exists(cached)) {
    try {
      await compileCpuLibrary(cached);
    } catch (error) {
      const why = error instanceof BuildError ? error.message : String(error);
      tried.push(`${cached} (compiling it failed: ${why})`);
      return fail();
    }
  }
  return open(kind, cached, tried) ?? fail();
}

/** `build/` beside the module, when the module is on the local disk. */
function localCandidates(file: string): string[] {
  if (MODULE_ROOT.protocol !== "file:") return [];
  return [`${decodeURIComponent(MODULE_ROOT.pathname)}build/${file}`];
}

/**
 * How OpenMP's idle threads wait, unless the user chose (`OMP_WAIT_POLICY` or
 * `GOMP_SPINCOUNT`): they spin for GOMP_SPINCOUNT=100000 turns of libgomp's wait loop, then
 * sleep. Spinning forever (`OMP_WAIT_POLICY=ACTIVE`) takes a core from anyone else: with
 * one core busy, the 244M model decoded 17.5 tokens/s against 24-27 for the others.
 * Sleeping at once (`PASSIVE`) pays a wake-up for every parallel region, about a hundred
 * per token of that model: 30-32 tokens/s on a quiet machine against 37-39 with the short spin, which
 * was also the fastest with a core busy (26-27). Once threads.c caps the threads at the
 * free CPUs, busy-machine regions run on one thread and the others stay asleep. Measured
 * on the 2-vCPU development VM, 3 interleaved rounds, 2026-12-07
 * (docs/results/2026-12-07-cpu-matmul-threads.md). OpenMP reads this once, when the library loads;
 * the variable is libgomp's (gcc), which `deno task build` links.
 */
function defaultOpenMpWait(): void {
  try {
    if (Deno.env.get("OMP_WAIT_POLICY") === undefined && Deno.env.get("GOMP_SPINCOUNT") === undefined) {
      Deno.env.set("GOMP_SPINCOUNT", "100000");
    }
  } catch {
    // without --allow-env the library keeps OpenMP's own default
  }
}

/**
 * dlopens `path` and checks its ABI version. Returns undefined (noting why in `tried`)
 * when the file is absent; a present but broken or stale library is an error, since
 * silently using another copy would hide it.
 */
function open(kind: LibraryKind, path: string, tried: string[]): NativeLibrary | undefined {
  if (!exists(path)) {
    tried.push(`${path} (not found)`);
    return undefined;
  }
  if (kind === "cpu") defaultOpenMpWait();
  let library: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    library = Deno.dlopen(path, SYMBOLS);
  } catch (error) {
    throw new LukvError(
      "load",
      STATUS.LOAD,
      `${path} exists but cannot be opened: ${(error as Error).message}\n` +
        "fix: rebuild it with `deno task build` (a library missing a symbol is from another lukv version)",
    );
  }
  const version = library.symbols.lukv_abi_version();
  if (version !== ABI_VERSION) {
    library.close();
    throw new LukvError(
      "load",
      STATUS.LOAD,
      `${path} speaks ABI ${version} but this lukv needs ${ABI_VERSION}; rebuild it with \`deno task build\``,
    );
  }
  return { kind, path, library };
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * `$LUKV_CACHE_DIR`, else `$XDG_CACHE_HOME/lukv`, else `~/.cache/lukv`, then a folder
 * named after the ABI and a hash of the sources, so an upgraded module rebuilds.
 */
async function cacheFolder(): Promise<string> {
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  const base = Deno.env.get("LUKV_CACHE_DIR") ??
    `${Deno.env.get("XDG_CACHE_HOME") ?? `${home}/.cache`}/lukv`;
  const hash = await sourceHash();
  return `${base}/abi${ABI_VERSION}-${hash}`;
}

async function sourceHash(): Promise<string> {
  const parts = await Promise.all(
    CPU_SOURCES.map(async (file) => `${file}\n${await (await fetch(new URL(file, MODULE_ROOT))).text()}`),
  );
  return (await sha256Hex([new TextEncoder().encode(parts.join("\n"))])).slice(0, 16);
}

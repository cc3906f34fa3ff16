/**
 * Compiles lukv's native libraries: CPU with the system C compiler; CUDA with nvcc when
 * this machine has an NVIDIA GPU, or when `--cuda` asks for it (CI compiles it there).
 * Progress goes to stderr, so commands that build first keep stdout for their result.
 */

import { parseArgs } from "node:util";

/** A compiler that could not be run or that failed; the message ends with the command. */
export class BuildError extends Error {
  /** @param message what failed, with the compiler's last lines and the command. */
  constructor(message: string) {
    super(message);
    this.name = "BuildError";
  }
}

/** The two native libraries: same symbols, different devices. */
export type LibraryKind = "cpu" | "cuda";

/** Sources of the CPU library, relative to the module root (a test keeps it in sync with the folders). */
export const CPU_SOURCES: readonly string[] = [
  "ffi/lukv.h",
  "ffi/lukv_internal.h",
  "ffi/common.c",
  "ffi/validate.c",
  "kernels/cpu/cpu_common.h",
  "kernels/cpu/simd.h",
  "kernels/cpu/argmax.c",
  "kernels/cpu/attention.c",
  "kernels/cpu/device.c",
  "kernels/cpu/elementwise.c",
  "kernels/cpu/embedding.c",
  "kernels/cpu/kv_ragged.c",
  "kernels/cpu/matmul.c",
  "kernels/cpu/memory.c",
  "kernels/cpu/norm.c",
  "kernels/cpu/rope.c",
  "kernels/cpu/scoring.c",
  "kernels/cpu/softmax.c",
  "kernels/cpu/threads.c",
];

/** The module root (holding ffi/ and kernels/), local or remote. */
export const MODULE_ROOT: URL = new URL("../", import.meta.url);

/**
 * The platform's file name of a library.
 *
 * @example
 * ```ts
 * libraryFileName("cpu"); // "liblukv_cpu.so" on Linux
 * ```
 */
export function libraryFileName(kind: LibraryKind): string {
  switch (Deno.build.os) {
    case "darwin":
      return `liblukv_${kind}.dylib`;
    case "windows":
      return `lukv_${kind}.dll`;
    default:
      return `liblukv_${kind}.so`;
  }
}

/** What a build did: the file it wrote, the command it ran, and anything worth saying. */
export interface BuildResult {
  /** Path of the library written. */
  path: string;
  /** The compiler command line, ready to paste into a shell. */
  command: string;
  /** Remarks such as "built without OpenMP". */
  notes: string[];
}

/**
 * Compiles the CPU library from the module's own sources (local files, or fetched
 * from a remote module root into a temporary folder) with `$CC` or `cc`, at `-O3
 * -march=native` with OpenMP when the compiler supports it.
 *
 * @example
 * ```ts
 * const { path } = await compileCpuLibrary("build/liblukv_cpu.so");
 * ```
 */
export async function compileCpuLibrary(
  outFile: string,
  options: { sourceRoot?: URL; cc?: string } = {},
): Promise<BuildResult> {
  const cc = options.cc ?? Deno.env.get("CC") ?? "cc";
  const root = await localSources(options.sourceRoot ?? MODULE_ROOT);
  const sources = CPU_SOURCES.filter((file) => file.endsWith(".c")).map((f) => `${root}/${f}`);
  // -z nodelete: OpenMP's worker threads outlive any op, so unloading the library (and
  // libgomp with it) when a Device closes would pull code from under them.
  const base = ["-O3", "-march=native", "-shared", "-fPIC", "-fvisibility=hidden", "-std=gnu11"];
  const link = Deno.build.os === "darwin" ? [] : ["-Wl,-z,nodelete"];
  const tail = [`-I${root}/ffi`, ...sources, "-lm", "-lpthread", ...link];
  const withOpenMp = [...base, "-fopenmp", ...tail];
  try {
    return { ...(await compileAtomically(cc, withOpenMp, outFile)), notes: [] };
  } catch (error) {
    // Apple clang and some minimal toolchains lack OpenMP: a single-threaded library
    // is slower but correct, so fall back and say so.
    const result = await compileAtomically(cc, [...base, ...tail], outFile).catch(() => {
      throw error;
    });
    return { ...result, notes: ["built without OpenMP: kernels run on one thread"] };
  }
}

/**
 * Compiles the CUDA library with nvcc: sm_80 and sm_90 code plus sm_90 PTX, static
 * cudart, so that it loads on any machine with an NVIDIA driver; cuBLAS is opened at
 * run time.
 *
 * @example
 * ```ts
 * if (await hasCommand("nvcc")) await compileCudaLibrary("build/liblukv_cuda.so");
 * ```
 */
export async function compileCudaLibrary(
  outFile: string,
  options: { nvcc?: string; archs?: readonly number[] } = {},
): Promise<BuildResult> {
  const root = await localSources(MODULE_ROOT);
  const archs = options.archs ?? [80, 90];
  const compiled = cudaSources().filter((file) => /\.(c|cu)$/.test(file)).map((file) => `${root}/${file}`);
  const last = archs[archs.length - 1];
  const args = [
    "-O3",
    "-shared",
    "--threads=0",
    "-Xcompiler",
    "-fPIC,-fvisibility=hidden",
    "-cudart",
    "static",
    ...archs.flatMap((arch) => ["-gencode", `arch=compute_${arch},code=sm_${arch}`]),
    "-gencode",
    `arch=compute_${last},code=compute_${last}`,
    `-I${root}/ffi`,
    ...compiled,
    "-ldl",
    "-lpthread",
    // Never unloaded: the cuBLAS handle and cudart's own state live for the process.
    "-Xlinker=-z,nodelete",
  ];
  return { ...(await compileAtomically(options.nvcc ?? "nvcc", args, outFile)), notes: [] };
}

/**
 * True when this machine shows an NVIDIA GPU to its driver (`/proc/driver/nvidia/gpus/*`
 * or a `/dev/nvidia<N>` device; a container may expose only some of them, e.g. `/dev/nvidia3`):
 * the CUDA library is only worth compiling where it can run.
 *
 * @example
 * ```ts
 * if (hasNvidiaGpu()) console.log("a GPU is here");
 * ```
 */
export function hasNvidiaGpu(): boolean {
  try {
    if ([...Deno.readDirSync("/proc/driver/nvidia/gpus")].length > 0) return true;
  } catch {
    // no driver, or not Linux
  }
  try {
    return [...Deno.readDirSync("/dev")].some((entry) => /^nvidia\d+$/.test(entry.name));
  } catch {
    return false;
  }
}

/** True when `command --version` runs. */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

/**
 * Runs `compiler args -o outFile` through a temporary name and renames, so concurrent
 * builds never see half a file; throws {@linkcode BuildError} with the compiler output.
 *
 * @example
 * ```ts
 * await compileAtomically("cc", ["-O3", "-shared", "-fPIC", "x.c"], "build/x.so");
 * ```
 */
export async function compileAtomically(
  compiler: string,
  args: string[],
  outFile: string,
): Promise<Omit<BuildResult, "notes">> {
  const temporary = `${outFile}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const fullArgs = [...args, "-o", temporary];
  const command = [compiler, ...fullArgs].join(" ");
  await Deno.mkdir(dirname(outFile), { recursive: true });
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(compiler, { args: fullArgs, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    throw new BuildError(`cannot run ${compiler}: ${(error as Error).message}\n  command: ${command}`);
  }
  if (!output.success) {
    await Deno.remove(temporary).catch(() => {});
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-20).join("\n");
    throw new BuildError(`${compiler} failed:\n${stderr}\n  command: ${command}`);
  }
  await Deno.rename(temporary, outFile);
  return { path: outFile, command: command.replace(temporary, outFile) };
}

/** A local folder holding the sources: the root itself, or a fresh copy of a remote root. */
async function localSources(root: URL): Promise<string> {
  if (root.protocol === "file:") return decodeURIComponent(root.pathname).replace(/\/$/, "");
  const folder = await Deno.makeTempDir({ prefix: "lukv-src-" });
  for (const file of CPU_SOURCES) {
    const response = await fetch(new URL(file, root));
    if (!response.ok) {
      throw new BuildError(`cannot fetch ${new URL(file, root)}: HTTP ${response.status}`);
    }
    await Deno.mkdir(dirname(`${folder}/${file}`), { recursive: true });
    await Deno.writeFile(`${folder}/${file}`, new Uint8Array(await response.arrayBuffer()));
  }
  return folder;
}

function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "." : path.slice(0, cut);
}

/**
 * True when `outFile` exists and is newer than every file in `sources` (paths from the
 * module root) and than this script, whose flags are part of the build.
 */
function upToDate(outFile: string, sources: readonly string[]): boolean {
  try {
    const built = Deno.statSync(outFile).mtime!.getTime();
    return [...sources, "ffi/build.ts"].every((file) =>
      Deno.statSync(new URL(file, MODULE_ROOT)).mtime!.getTime() < built
    );
  } catch {
    return false;
  }
}

/** The CUDA library's sources, from the module root: the shared glue and kernels/cuda/ (local modules only). */
function cudaSources(): string[] {
  const cuda = [...Deno.readDirSync(new URL("kernels/cuda/", MODULE_ROOT))].map((e) =>
    `kernels/cuda/${e.name}`
  );
  return [...CPU_SOURCES.filter((file) => file.startsWith("ffi/")), ...cuda.sort()];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string", default: "build" },
      "cpu-only": { type: "boolean", default: false },
      cuda: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      "cuda-arch": { type: "string", default: "80,90" },
    },
  });
  const archs = values["cuda-arch"].split(",").map(Number);
  if (!archs.every((arch) => Number.isInteger(arch) && arch >= 50)) {
    throw new BuildError(`--cuda-arch takes compute capabilities like 80,90; got ${values["cuda-arch"]}`);
  }
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  const cpuFile = `${values.out}/${libraryFileName("cpu")}`;
  if (!values.force && upToDate(cpuFile, CPU_SOURCES)) {
    console.error(`${cpuFile} is up to date`);
  } else {
    const cpu = await compileCpuLibrary(cpuFile);
    console.error(`built ${cpu.path} in ${seconds()} s${cpu.notes.map((n) => ` (${n})`).join("")}`);
  }
  if (values["cpu-only"]) return;
  // A CUDA library that cannot run costs a first run 30 s: it is built where a GPU is, or when asked (CI).
  if (!values.cuda && !hasNvidiaGpu()) {
    console.error("CUDA library skipped: no NVIDIA GPU here (--cuda builds it anyway)");
    return;
  }
  if (!(await hasCommand("nvcc"))) {
    const message = "CUDA library skipped: nvcc not found (install the CUDA toolkit to build it)";
    if (values.cuda) throw new BuildError(message.replace("skipped", "asked for with --cuda, but"));
    console.error(message);
    return;
  }
  const cudaFile = `${values.out}/${libraryFileName("cuda")}`;
  if (!values.force && upToDate(cudaFile, cudaSources())) {
    console.error(`${cudaFile} is up to date`);
    return;
  }
  const cuda = await compileCudaLibrary(cudaFile, { archs });
  console.error(`built ${cuda.path} in ${seconds()} s`);
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(error instanceof BuildError ? error.message : error);
    Deno.exit(1);
  }
}

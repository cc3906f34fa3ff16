/** The build and the loader: source lists, compiling from sources, and the errors of a failed load. */

import assert from "node:assert/strict";
import { compileCpuLibrary, CPU_SOURCES, hasNvidiaGpu, libraryFileName } from "../../ffi/build.ts";
import { loadLibrary } from "../../src/backend/library.ts";
import { ABI_VERSION, SYMBOLS } from "../../src/backend/symbols.ts";
import { openDevice, STATUS } from "../../mod.ts";

const root = new URL("../../", import.meta.url);

function listFiles(folder: string, pattern: RegExp): string[] {
  return [...Deno.readDirSync(new URL(folder, root))]
    .filter((entry) => entry.isFile && pattern.test(entry.name))
    .map((entry) => `${folder}${entry.name}`);
}

Deno.test("CPU_SOURCES lists every C source and header of ffi/ and kernels/cpu/", () => {
  const onDisk = [...listFiles("ffi/", /\.[ch]$/), ...listFiles("kernels/cpu/", /\.[ch]$/)];
  assert.deepEqual([...CPU_SOURCES].sort(), onDisk.sort());
});

Deno.test("compileCpuLibrary builds a loadable library from the module's sources", async () => {
  const folder = await Deno.makeTempDir({ prefix: "lukv-build-test-" });
  try {
    const result = await compileCpuLibrary(`${folder}/${libraryFileName("cpu")}`);
    assert.match(result.command, /-O3 -march=native/);
    const library = Deno.dlopen(result.path, SYMBOLS);
    assert.equal(library.symbols.lukv_abi_version(), ABI_VERSION);
    library.close();
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("an explicit LUKV_LIB_DIR without the library is an error listing the path and the fix", async () => {
  const previous = Deno.env.get("LUKV_LIB_DIR");
  Deno.env.set("LUKV_LIB_DIR", "/nonexistent/lukv-libs");
  try {
    await assert.rejects(() => loadLibrary("cpu"), (error: Error & { code?: number }) => {
      assert.equal(error.name, "LukvError");
      assert.equal(error.code, STATUS.LOAD);
      assert.match(error.message, /\/nonexistent\/lukv-libs\/liblukv_cpu\.so \(not found\)/);
      assert.match(error.message, /deno task build/);
      return true;
    });
  } finally {
    if (previous === undefined) Deno.env.delete("LUKV_LIB_DIR");
    else Deno.env.set("LUKV_LIB_DIR", previous);
  }
});

Deno.test("without build/, the loader compiles the CPU library into the cache folder", async () => {
  // A copy of the module without build/ stands in for a user who never ran the build.
  const copy = await Deno.makeTempDir({ prefix: "lukv-module-" });
  try {
    for (const folder of ["ffi", "kernels", "src"]) {
      await new Deno.Command("cp", { args: ["-r", new URL(folder, root).pathname, copy] }).output();
    }
    await Deno.copyFile(new URL("mod.ts", root), `${copy}/mod.ts`);
    const script = `import { openDevice } from "${copy}/mod.ts";
      using dev = await openDevice("cpu");
      console.log(dev.libraryPath);`;
    // An empty LUKV_LIB_DIR counts as unset, so a caller's own library folder cannot leak in.
    const env = { LUKV_CACHE_DIR: `${copy}/cache`, LUKV_LIB_DIR: "" };
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script],
        env,
        stdout: "piped",
        stderr: "piped",
      })
        .output();
    const first = await run();
    assert.ok(first.success, new TextDecoder().decode(first.stderr));
    const path = new TextDecoder().decode(first.stdout).trim();
    assert.match(path, new RegExp(`^${copy}/cache/abi${ABI_VERSION}-[0-9a-f]{16}/liblukv_cpu\\.so$`));
    const second = await run();
    assert.equal(
      new TextDecoder().decode(second.stdout).trim(),
      path,
      "the second run reuses the cached build",
    );
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

Deno.test("closing a device after multithreaded work leaves the process healthy", async () => {
  // Closing the library once OpenMP's workers exist used to unload code under them (SIGSEGV at exit).
  const script = `import { openDevice, ops } from "${new URL("mod.ts", root).pathname}";
    const dev = await openDevice("cpu");
    const x = dev.zeros("f32", [256, 256]), y = dev.zeros("f32", [256, 256]);
    ops.matmul(y, x, x);
    dev.close();
    console.log("closed");`;
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    env: { OMP_NUM_THREADS: "2" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  assert.equal(new TextDecoder().decode(result.stdout).trim(), "closed");
});

Deno.test({
  name:
    "without a GPU, asking for CUDA says no CUDA device found (whether or not the CUDA library was built)",
  // LUKV_REQUIRE_CUDA (test:cuda) says a GPU is here even where the container hides its
  // device files from hasNvidiaGpu.
  ignore: hasNvidiaGpu() || Deno.env.get("LUKV_REQUIRE_CUDA") === "1",
  fn: async () => {
    await assert.rejects(() => openDevice("cuda"), /no CUDA device found/);
  },
});

/**
 * Runs a test body on every device: CPU always, CUDA when a GPU answers (skipped, saying
 * why, otherwise). With LUKV_REQUIRE_CUDA=1 (`deno task test:cuda`) a missing GPU fails
 * every CUDA test instead of skipping it.
 */

import { type Device, LukvError, openDevice } from "../../mod.ts";

async function probeCuda(): Promise<Device | string> {
  try {
    return await openDevice("cuda");
  } catch (error) {
    return error instanceof LukvError ? error.message.split("\n")[0] : String(error);
  }
}

/** True when LUKV_REQUIRE_CUDA=1: CUDA tests must run, and fail without a GPU. */
export const REQUIRE_CUDA = Deno.env.get("LUKV_REQUIRE_CUDA") === "1";

const cpu = await openDevice("cpu");
const cuda = await probeCuda();
if (typeof cuda === "string") {
  console.log(`CUDA tests ${REQUIRE_CUDA ? "FAIL (LUKV_REQUIRE_CUDA=1)" : "skipped"}: ${cuda}`);
}

/**
 * Registers a CUDA test: run when a GPU answers; otherwise ignored with the reason in its
 * name, or, under LUKV_REQUIRE_CUDA=1, registered as a failing test that says why.
 */
export function cudaTest(name: string, body: (cuda: Device) => void | Promise<void>): void {
  if (typeof cuda !== "string") {
    Deno.test(`${name} [cuda]`, () => body(cuda));
  } else if (REQUIRE_CUDA) {
    Deno.test(`${name} [cuda]`, () => {
      throw new Error(`LUKV_REQUIRE_CUDA=1 but no GPU answered: ${cuda}`);
    });
  } else {
    Deno.test({ name: `${name} [cuda] (skipped: no usable GPU)`, ignore: true, fn: () => {} });
  }
}

/** Registers `name [cpu]` and `name [cuda]` (see {@linkcode cudaTest} for the CUDA one). */
export function deviceTest(name: string, body: (device: Device) => void | Promise<void>): void {
  Deno.test(`${name} [cpu]`, () => body(cpu));
  cudaTest(name, body);
}

/** The shared CPU device, for tests that compare a CUDA result with the CPU's. */
export function cpuDevice(): Device {
  return cpu;
}

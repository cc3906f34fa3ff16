/** Runs a test body on every device: CPU always, CUDA when a GPU answers (skipped, saying why, otherwise). */

import { type Device, LukvError, openDevice } from "../../mod.ts";

async function probeCuda(): Promise<Device | string> {
  try {
    return await openDevice("cuda");
  } catch (error) {
    return error instanceof LukvError ? error.message.split("\n")[0] : String(error);
  }
}

const cpu = await openDevice("cpu");
const cuda = await probeCuda();
if (typeof cuda === "string") console.log(`CUDA tests skipped: ${cuda}`);

/**
 * Registers `name [cpu]` and `name [cuda]`; the CUDA one is ignored, with the reason in
 * its name, when no GPU is usable.
 */
export function deviceTest(name: string, body: (device: Device) => void | Promise<void>): void {
  Deno.test(`${name} [cpu]`, () => body(cpu));
  if (typeof cuda === "string") {
    Deno.test({ name: `${name} [cuda] (skipped: no usable GPU)`, ignore: true, fn: () => {} });
  } else {
    Deno.test(`${name} [cuda]`, () => body(cuda));
  }
}

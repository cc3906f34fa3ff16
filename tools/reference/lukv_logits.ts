/**
 * Prints lukv's logits for token ids as JSON, for tools/reference/hf_compare.py: every
 * model folder (config.json + safetensors; no tokenizer needed) on every device asked for.
 *
 * ```sh
 * deno run -A tools/reference/lukv_logits.ts --devices cpu,cuda --ids 1,2,3 /tmp/llama /tmp/qwen3
 * ```
 *
 * Output: `{ "results": [{ "dir", "device", "deviceName", "logits": [[...vocab] per id], "error" }] }`;
 * a device that cannot be opened, or a model that fails to load or run, gives `error` and
 * `logits: null` instead of stopping the others.
 */

import { parseArgs } from "node:util";
import { type Device, type DeviceRequest, openDevice } from "../../src/backend/device.ts";
import { DenseKvCache } from "../../src/cache/dense.ts";
import { loadConfig } from "../../src/model/config.ts";
import { LlamaForward } from "../../src/model/forward.ts";
import { Checkpoint } from "../../src/model/safetensors.ts";
import { loadWeights } from "../../src/model/weights.ts";

interface Result {
  dir: string;
  device: string;
  deviceName: string | null;
  logits: number[][] | null;
  error: string | null;
}

/** Logits `[ids.length, vocab]` of `dir`'s model on `device`, every position, with a dense cache. */
async function logitsOf(dir: string, device: Device, ids: Int32Array): Promise<number[][]> {
  const config = await loadConfig(dir);
  const { weights, owned } = loadWeights(await Checkpoint.open(dir), config, device);
  try {
    using forward = new LlamaForward(device, config, weights);
    using cache = new DenseKvCache(device, config, ids.length);
    using hidden = forward.run(ids, cache);
    const flat = forward.logits(hidden);
    const vocab = config.vocabSize;
    return Array.from(
      { length: ids.length },
      (_, t) => Array.from(flat.subarray(t * vocab, (t + 1) * vocab)),
    );
  } finally {
    for (const t of owned) t.close();
  }
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { devices: { type: "string", default: "cpu" }, ids: { type: "string" } },
});
if (!values.ids || positionals.length === 0) {
  console.error("usage: lukv_logits.ts --devices cpu,cuda --ids 1,2,3 DIR...");
  Deno.exit(2);
}
const ids = Int32Array.from(values.ids.split(",").map(Number));
const results: Result[] = [];
for (const request of values.devices.split(",")) {
  let device: Device;
  try {
    device = await openDevice(request as DeviceRequest);
  } catch (error) {
    for (const dir of positionals) {
      results.push({ dir, device: request, deviceName: null, logits: null, error: String(error) });
    }
    continue;
  }
  for (const dir of positionals) {
    try {
      results.push({
        dir,
        device: request,
        deviceName: device.name,
        logits: await logitsOf(dir, device, ids),
        error: null,
      });
    } catch (error) {
      results.push({ dir, device: request, deviceName: device.name, logits: null, error: String(error) });
    }
  }
  device.close();
}
console.log(JSON.stringify({ results }));

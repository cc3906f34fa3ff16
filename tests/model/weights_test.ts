/** Loading weights: file dtypes kept on every device, CPU tensors mapped from the file, unaligned files read. */

import assert from "node:assert/strict";
import { parseSafetensors, toFloat32 } from "../../src/model/safetensors.ts";
import { loadModel } from "../../src/pipeline/model.ts";
import { deviceTest } from "../backend/devices.ts";

const BF16_MODEL = new URL("../fixtures/models/mistral-bf16/", import.meta.url).pathname;
const IDS = Int32Array.from([1, 17, 42, 7, 99, 3, 250, 11]);

/**
 * Whether this process maps the file at `path`, from its /proc/PID/maps (so Linux only). Read by a
 * child `cat`: Deno wants --allow-all to read /proc/self or /proc/PID itself, and the test task grants
 * only --allow-run and --allow-read.
 */
function mapped(path: string): boolean {
  const out = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/maps`] }).outputSync();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).includes(Deno.realPathSync(path));
}

const LINUX = Deno.build.os === "linux";

/**
 * A copy of the bf16 fixture whose tensors are rewritten as `dtype` "F32" (widened exactly)
 * or kept, with the header padded by `pad` spaces: an odd pad leaves every tensor unaligned.
 */
async function copyModel(dtype: "F32" | "BF16", pad: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "lukv_weights_test_" });
  for await (const entry of Deno.readDir(BF16_MODEL)) {
    if (entry.name !== "model.safetensors") {
      await Deno.copyFile(BF16_MODEL + entry.name, `${dir}/${entry.name}`);
    }
  }
  const { tensors } = parseSafetensors(await Deno.readFile(`${BF16_MODEL}model.safetensors`));
  const header: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const bytes = dtype === "F32" ? new Uint8Array(toFloat32(tensor).slice().buffer) : tensor.bytes;
    header[name] = {
      dtype: dtype === "F32" ? "F32" : "BF16",
      shape: tensor.shape,
      data_offsets: [offset, offset + bytes.length],
    };
    parts.push(bytes);
    offset += bytes.length;
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const file = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  file.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const part of parts) file.set(part, (at += part.length) - part.length);
  await Deno.writeFile(`${dir}/model.safetensors`, file);
  return dir;
}

deviceTest(
  "bf16 weights stay bf16 and give the logits of the same weights widened to f32 on disk",
  async (device) => {
    using bf16 = await loadModel(BF16_MODEL, { device });
    const widened = await copyModel("F32", 0);
    try {
      using f32 = await loadModel(widened, { device });
      assert.equal(bf16.forward.weights.layers[0].q.dtype, "bf16");
      assert.equal(bf16.forward.weights.embed.dtype, "bf16");
      assert.equal(bf16.forward.weights.layers[0].inputNorm.dtype, "f32", "norms are widened");
      assert.equal(f32.forward.weights.layers[0].q.dtype, "f32");
      if (device.kind === "cpu" && LINUX) {
        assert.ok(mapped(`${BF16_MODEL}model.safetensors`), "CPU weights are mapped");
      }
      const [a, b] = [await bf16.logits(IDS), await f32.logits(IDS)];
      // The same f32 products in the same order on CPU; cuBLAS may order them otherwise.
      if (device.kind === "cpu") assert.deepEqual(a, b);
      else for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-4 * (1 + Math.abs(b[i])));
    } finally {
      await Deno.remove(widened, { recursive: true });
    }
  },
);

deviceTest(
  "a file whose tensors are not aligned to their element size is read instead of mapped",
  async (device) => {
    using aligned = await loadModel(BF16_MODEL, { device });
    const dir = await copyModel("BF16", 1);
    try {
      using unaligned = await loadModel(dir, { device });
      if (LINUX) assert.ok(!mapped(`${dir}/model.safetensors`), "unaligned tensors are read");
      assert.deepEqual(await unaligned.logits(IDS), await aligned.logits(IDS));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

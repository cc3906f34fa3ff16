/**
 * Native op speed as ratios within one run: matmul against a textbook C triple loop
 * (and OpenBLAS's sgemm when it is installed), decode attention against a device
 * memcpy of the same traffic. `deno task bench:report` turns the times into GFLOP/s
 * and GB/s. LUKV_BENCH_DEVICE=cpu|cuda|auto picks the device (default auto).
 */

import { compileAtomically } from "../ffi/build.ts";
import { type DeviceRequest, openDevice, ops } from "../mod.ts";
import { ATTENTION_CASES, attentionName, MATMUL_CASES, matmulName } from "./cases.ts";

const dev = await openDevice((Deno.env.get("LUKV_BENCH_DEVICE") ?? "auto") as DeviceRequest);
console.error(`device: ${dev.selection}`);

const baselines = await loadBaselines();

function filled(shape: number[]) {
  const tensor = dev.empty("f32", shape);
  const data = new Float32Array(tensor.size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.5;
  return tensor.copyFrom(data);
}

for (const c of MATMUL_CASES) {
  const group = `matmul ${c.m}x${c.n}x${c.k} (${c.label})`;
  const x = filled([c.m, c.k]), w = filled([c.n, c.k]), y = dev.empty("f32", [c.m, c.n]);
  Deno.bench(matmulName(c, `lukv ${dev.kind}`), { group }, () => {
    ops.matmul(y, x, w);
    dev.synchronize();
  });
  const hx = new Float32Array(c.m * c.k).fill(0.5), hw = new Float32Array(c.n * c.k).fill(0.25);
  const hy = new Float32Array(c.m * c.n);
  const slow = c.m * c.n * c.k > 1e8 ? { n: 3, warmup: 1 } : {};
  Deno.bench(matmulName(c, "naive C"), { group, baseline: true, ...slow }, () => {
    baselines.naive.naive_matmul(hy, hx, hw, BigInt(c.m), BigInt(c.n), BigInt(c.k));
  });
  const blas = baselines.openblas;
  if (blas) {
    // Row-major y = x W^T: CblasRowMajor (101), NoTrans (111) for x, Trans (112) for W.
    Deno.bench(matmulName(c, "OpenBLAS"), { group }, () => {
      blas.cblas_sgemm(101, 111, 112, c.m, c.n, c.k, 1, hx, c.k, hw, c.k, 0, hy, c.n);
    });
  }
}

for (const c of ATTENTION_CASES) {
  const group = `decode attention, ${c.kvLen} tokens`;
  const k = filled([c.kvHeads, c.kvLen, c.headDim]), v = filled([c.kvHeads, c.kvLen, c.headDim]);
  const q = filled([c.qHeads, c.headDim]), out = dev.empty("f32", [c.qHeads, c.headDim]);
  const copy = dev.empty("f32", [c.kvHeads, c.kvLen, c.headDim]);
  Deno.bench(attentionName(c, `lukv ${dev.kind}`), { group }, () => {
    ops.attentionDecode(out, q, k, v, c.kvLen);
    dev.synchronize();
  });
  // Copying K reads and writes as many bytes as attention reads from K and V.
  Deno.bench(attentionName(c, "memcpy of equal traffic"), { group, baseline: true }, () => {
    dev.check(
      "lukv_copy_device",
      dev.symbols.lukv_copy_device(copy.pointer, k.pointer, BigInt(k.byteLength), null),
    );
    dev.synchronize();
  });
}

/** The naive C baseline (compiled now from bench/naive_matmul.c) and OpenBLAS if present. */
async function loadBaselines() {
  const folder = await Deno.makeTempDir({ prefix: "lukv-bench-" });
  const source = new URL("naive_matmul.c", import.meta.url).pathname;
  const file = `${folder}/naive_matmul.so`;
  await compileAtomically("cc", ["-O3", "-march=native", "-shared", "-fPIC", source], file);
  const naive = Deno.dlopen(file, {
    naive_matmul: { parameters: ["buffer", "buffer", "buffer", "i64", "i64", "i64"], result: "void" },
  }).symbols;
  let openblas;
  for (const name of ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"]) {
    try {
      openblas = Deno.dlopen(name, {
        cblas_sgemm: {
          parameters: [
            "i32",
            "i32",
            "i32",
            "i32",
            "i32",
            "i32",
            "f32",
            "buffer",
            "i32",
            "buffer",
            "i32",
            "f32",
            "buffer",
            "i32",
          ],
          result: "void",
        },
      }).symbols;
      console.error(`OpenBLAS baseline: ${name}`);
      break;
    } catch {
      // Not installed under this name; the naive baseline still stands.
    }
  }
  return { naive, openblas };
}

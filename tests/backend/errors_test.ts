/** Bad input: the native side refuses it with a clear status and message, and TS throws LukvError. */

import assert from "node:assert/strict";
import { type Device, LukvError, openDevice, ops, STATUS } from "../../mod.ts";
import { deviceTest } from "./devices.ts";

/** Calls a raw ABI function and expects the given status and a message matching `pattern`. */
function refuses(dev: Device, op: string, status: number, code: number, pattern: RegExp) {
  assert.throws(() => dev.check(op, status), (error: unknown) => {
    assert.ok(error instanceof LukvError, `${op}: not a LukvError: ${error}`);
    assert.equal(error.op, op);
    assert.equal(error.code, code, `${op}: code ${error.codeName} for "${error.message}"`);
    assert.match(error.message, pattern);
    return true;
  });
}

deviceTest("native ops refuse null pointers, bad sizes, bad dtypes and short buffers", (dev) => {
  const s = dev.symbols;
  using y = dev.empty("f32", [4, 4]);
  using x = dev.empty("f32", [4, 4]);
  using w = dev.empty("f32", [4, 4]);
  const { INVALID_ARGUMENT, SHAPE, DTYPE } = STATUS;
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(null, x.pointer, w.pointer, 0, null, 4n, 4n, 4n, null),
    INVALID_ARGUMENT,
    /y is NULL/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, x.pointer, w.pointer, 0, null, 0n, 4n, 4n, null),
    INVALID_ARGUMENT,
    /m must be > 0, got 0/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, x.pointer, w.pointer, 0, null, 4n, -2n, 4n, null),
    INVALID_ARGUMENT,
    /n must be > 0, got -2/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, x.pointer, w.pointer, 9, null, 4n, 4n, 4n, null),
    DTYPE,
    /unknown dtype code 9/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, x.pointer, w.pointer, 0, null, 4n, 4n, 5n, null),
    SHAPE,
    /x needs 20 elements/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, x.pointer, w.pointer, 0, null, 1n << 40n, 1n << 40n, 1n, null),
    SHAPE,
    /y needs/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, y.pointer, w.pointer, 0, null, 4n, 4n, 4n, null),
    INVALID_ARGUMENT,
    /overlaps/,
  );
  refuses(
    dev,
    "lukv_rmsnorm",
    s.lukv_rmsnorm(y.pointer, x.pointer, w.pointer, 4n, 4n, NaN, null),
    INVALID_ARGUMENT,
    /eps/,
  );
  refuses(
    dev,
    "lukv_rope",
    s.lukv_rope(x.pointer, w.pointer, w.pointer, 1n, 1n, 3n, 0n, 1n, null),
    SHAPE,
    /even/,
  );
  refuses(
    dev,
    "lukv_rope",
    s.lukv_rope(x.pointer, w.pointer, w.pointer, 2n, 1n, 4n, 7n, 8n, null),
    SHAPE,
    /positions 7 .. 8/,
  );
  refuses(
    dev,
    "lukv_softmax",
    s.lukv_softmax(y.pointer, x.pointer, 4n, 5n, null),
    SHAPE,
    /needs 20 elements/,
  );
  refuses(dev, "lukv_add", s.lukv_add(y.pointer, x.pointer, null, 4n, null), INVALID_ARGUMENT, /b is NULL/);
  refuses(
    dev,
    "lukv_fill",
    s.lukv_fill(y.pointer, 3, 1n, 1e12, null),
    INVALID_ARGUMENT,
    /does not fit an i32/,
  );
  refuses(
    dev,
    "lukv_convert",
    s.lukv_convert(y.pointer, 3, x.pointer, 0, 4n, null),
    DTYPE,
    /i32 is not supported/,
  );
  const ids = new Int32Array([0, 4]);
  refuses(
    dev,
    "lukv_embedding",
    s.lukv_embedding(y.pointer, w.pointer, 0, ids, 2n, 4n, 4n, null),
    INVALID_ARGUMENT,
    /ids\[1\] = 4 is outside \[0, 4\)/,
  );
  refuses(
    dev,
    "lukv_kv_write",
    s.lukv_kv_write(y.pointer, x.pointer, 2n, 1n, 2n, 3n, 4n, null),
    SHAPE,
    /rows 3 .. 4/,
  );
  const attend = (tokens: bigint, kvLen: bigint, qHeads: bigint, kvHeads: bigint, scale: number) =>
    s.lukv_attention_prefill(
      y.pointer,
      x.pointer,
      w.pointer,
      w.pointer,
      tokens,
      kvLen,
      2n,
      qHeads,
      kvHeads,
      2n,
      scale,
      null,
    );
  refuses(
    dev,
    "lukv_attention_prefill",
    attend(1n, 2n, 3n, 2n, 1),
    SHAPE,
    /q_heads \(3\) is not a multiple of kv_heads \(2\)/,
  );
  refuses(
    dev,
    "lukv_attention_prefill",
    attend(1n, 3n, 2n, 2n, 1),
    SHAPE,
    /kv_len \(3\) exceeds capacity \(2\)/,
  );
  refuses(dev, "lukv_attention_prefill", attend(2n, 1n, 2n, 2n, 1), SHAPE, /2 new tokens but only 1 cached/);
  refuses(dev, "lukv_attention_prefill", attend(1n, 2n, 2n, 2n, NaN), INVALID_ARGUMENT, /scale/);
  refuses(
    dev,
    "lukv_argmax",
    s.lukv_argmax(new Int32Array(1), x.pointer, 1n, 0n, null),
    INVALID_ARGUMENT,
    /cols must be > 0/,
  );
  refuses(
    dev,
    "lukv_matmul",
    s.lukv_matmul(y.pointer, x.pointer, w.pointer, 3, null, 4n, 4n, 4n, null),
    DTYPE,
    /i32 is not supported/,
  );
});

deviceTest("ragged cache ops and attention scores refuse bad indices, spans and lengths", (dev) => {
  const s = dev.symbols;
  const { INVALID_ARGUMENT, SHAPE } = STATUS;
  // 2 heads, capacity 4, head_dim 2: src [2, 4, 2]; dst [6, 2].
  using src = dev.zeros("f32", [2, 4, 2]);
  using dst = dev.zeros("f32", [6, 2]);
  const i32 = (...values: number[]) => new Int32Array(values);
  const gather = (indices: Int32Array, indexOffsets: Int32Array, dstOffsets: Int32Array, to = dst.pointer) =>
    s.lukv_kv_gather(to, src.pointer, indices, indexOffsets, dstOffsets, 2n, 4n, 2n, 6n, null);
  const op = "lukv_kv_gather";
  refuses(
    dev,
    op,
    gather(i32(0, 2, 1, 3), i32(0, 3, 4), i32(0, 3)),
    INVALID_ARGUMENT,
    /head 0: indices must be strictly ascending, but indices\[2\] = 1 follows 2/,
  );
  refuses(
    dev,
    op,
    gather(i32(1, 1, 2), i32(0, 2, 3), i32(0, 3)),
    INVALID_ARGUMENT,
    /indices\[1\] = 1 follows 1/,
  );
  refuses(
    dev,
    op,
    gather(i32(0, 4), i32(0, 1, 2), i32(0, 3)),
    INVALID_ARGUMENT,
    /head 1: indices\[1\] = 4 is outside \[0, capacity 4\)/,
  );
  refuses(
    dev,
    op,
    gather(i32(-1), i32(0, 1, 1), i32(0, 3)),
    INVALID_ARGUMENT,
    /indices\[0\] = -1 is outside/,
  );
  refuses(
    dev,
    op,
    gather(i32(0, 1, 2, 3), i32(0, 3, 4), i32(0, 2)),
    SHAPE,
    /head 0's rows 0 .. 2 overlap head 1's span, which starts at row 2/,
  );
  refuses(dev, op, gather(i32(0, 1, 2, 3), i32(0, 2, 4), i32(3, 0)), SHAPE, /overlap head 1's span/);
  refuses(
    dev,
    op,
    gather(i32(0, 1, 2, 3), i32(0, 2, 4), i32(0, 5)),
    SHAPE,
    /head 1's rows 5 .. 6 run past the buffer's 6 rows/,
  );
  refuses(dev, op, gather(i32(0, 1), i32(0, 1, 2), i32(-1, 3)), SHAPE, /dst_offsets\[0\] = -1 is negative/);
  refuses(
    dev,
    op,
    gather(i32(0, 1), i32(1, 1, 2), i32(0, 3)),
    INVALID_ARGUMENT,
    /index_offsets\[0\] must be 0/,
  );
  refuses(
    dev,
    op,
    gather(i32(0, 1), i32(0, 2, 1), i32(0, 3)),
    INVALID_ARGUMENT,
    /index_offsets must not decrease/,
  );
  refuses(
    dev,
    op,
    gather(i32(0), i32(0, 1, 1), i32(0, 3), src.pointer),
    INVALID_ARGUMENT,
    /dst and src overlap/,
  );

  using row = dev.zeros("f32", [2, 2]);
  const append = (offsets: Int32Array, lengths: Int32Array, capacities: Int32Array) =>
    s.lukv_kv_append(dst.pointer, row.pointer, offsets, lengths, capacities, 2n, 2n, 6n, null);
  refuses(
    dev,
    "lukv_kv_append",
    append(i32(0, 3), i32(1, 3), i32(3, 3)),
    INVALID_ARGUMENT,
    /head 1 is full \(length 3 of capacity 3\)/,
  );
  refuses(
    dev,
    "lukv_kv_append",
    append(i32(0, 3), i32(0, 0), i32(3, 4)),
    SHAPE,
    /head 1's rows 3 .. 6 run past the buffer's 6 rows/,
  );
  refuses(dev, "lukv_kv_append", append(i32(0, 2), i32(0, 0), i32(3, 3)), SHAPE, /overlap head 1's span/);
  refuses(
    dev,
    "lukv_kv_append",
    append(i32(0, 3), i32(-1, 0), i32(3, 3)),
    INVALID_ARGUMENT,
    /must not be negative/,
  );

  using q = dev.zeros("f32", [4, 2]);
  using out = dev.zeros("f32", [4, 2]);
  const decode = (offsets: Int32Array, lengths: Int32Array, scale = 1) =>
    s.lukv_attention_decode_ragged(
      out.pointer,
      q.pointer,
      dst.pointer,
      dst.pointer,
      offsets,
      lengths,
      6n,
      4n,
      2n,
      2n,
      scale,
      null,
    );
  const ragged = "lukv_attention_decode_ragged";
  refuses(
    dev,
    ragged,
    decode(i32(0, 3), i32(2, 0)),
    INVALID_ARGUMENT,
    /head 1 has length 0; every head needs at least one row/,
  );
  refuses(dev, ragged, decode(i32(0, 3), i32(2, 4)), SHAPE, /head 1's rows 3 .. 6 fall outside the 6 rows/);
  refuses(dev, ragged, decode(i32(0, 3), i32(1, 1), NaN), INVALID_ARGUMENT, /scale/);

  using scores = dev.zeros("f32", [2, 4]);
  using qs = dev.zeros("f32", [2, 4, 2]);
  const score = (tokens: bigint, qPos0: bigint, kvLen: bigint, to = scores.pointer) =>
    s.lukv_attention_scores(to, qs.pointer, src.pointer, tokens, qPos0, kvLen, 4n, 4n, 2n, 2n, 1, null);
  const scoresOp = "lukv_attention_scores";
  refuses(dev, scoresOp, score(2n, 3n, 4n), SHAPE, /positions 3 .. 4 .*\(q_pos0 \+ tokens must be <= kv_len/);
  refuses(dev, scoresOp, score(1n, -1n, 4n), SHAPE, /positions -1 .. -1/);
  refuses(dev, scoresOp, score(1n, 0n, 5n), SHAPE, /kv_len \(5\) exceeds capacity \(4\)/);
  refuses(dev, scoresOp, score(1n, 0n, 4n, src.pointer), INVALID_ARGUMENT, /out and k overlap/);
});

deviceTest("ragged tensor ops check their index array lengths before calling native code", (dev) => {
  using src = dev.zeros("f32", [2, 4, 2]);
  using dst = dev.zeros("f32", [6, 2]);
  const shapeError = (message: RegExp) => ({ name: "LukvError", code: STATUS.SHAPE, message });
  const i32 = (...values: number[]) => new Int32Array(values);
  assert.throws(
    () => ops.kvGather(dst, src, i32(0, 1), i32(0, 2), i32(0, 3)),
    shapeError(/indexOffsets must hold heads \+ 1 = 3 entries, got 2/),
  );
  assert.throws(
    () => ops.kvGather(dst, src, i32(0), i32(0, 1, 2), i32(0, 3)),
    shapeError(/indices must hold indexOffsets\[heads\] = 2 entries, got 1/),
  );
  using rows = dev.zeros("f32", [2, 2]);
  assert.throws(
    () => ops.kvAppend(dst, rows, i32(0, 3), i32(0), i32(3, 3)),
    shapeError(/lengths must hold heads = 2 entries, got 1/),
  );
  using q = dev.zeros("f32", [4, 2]);
  using out = dev.zeros("f32", [4, 2]);
  assert.throws(
    () => ops.attentionDecodeRagged(out, q, dst, dst, i32(0, 3), i32(1)),
    shapeError(/lengths must hold offsets.length = 2 entries, got 1/),
  );
  assert.throws(
    () => ops.attentionDecodeRagged(out, q, dst, src, i32(0, 3), i32(1, 1)),
    shapeError(/v must have shape \[6, 2\]/),
  );
  assert.throws(
    () => ops.attentionDecodeRagged(out, q, dst, dst, i32(0, 3), i32(1, 0)),
    { name: "LukvError", code: STATUS.INVALID_ARGUMENT, message: /head 1 has length 0/ },
  );
  using qs = dev.zeros("f32", [2, 4, 2]);
  using scores = dev.zeros("f32", [2, 4]);
  assert.throws(() => ops.attentionScores(scores, qs, src, 0, 3), shapeError(/out must have shape \[2, 3\]/));
  assert.throws(
    () => ops.attentionScores(scores, qs, src, 3, 4),
    shapeError(/q_pos0 \+ tokens must be <= kv_len/),
  );
});

deviceTest("attention_oracle refuses context past the cache, short weights and overlapping output", (dev) => {
  const s = dev.symbols;
  const { INVALID_ARGUMENT, SHAPE } = STATUS;
  const op = "lukv_attention_oracle";
  // q [4, 2], k [2, 4, 2]: q_heads 4 over kv_heads 2, capacity 4, head_dim 2.
  using q = dev.zeros("f32", [4, 2]);
  using k = dev.zeros("f32", [2, 4, 2]);
  using weights = dev.zeros("f32", [4, 3]);
  using out = dev.zeros("f32", [2, 3]);
  const oracle = (kvLen: bigint, ctxLen: bigint, to = out.pointer, qHeads = 4n) =>
    s.lukv_attention_oracle(
      to,
      q.pointer,
      k.pointer,
      weights.pointer,
      kvLen,
      ctxLen,
      4n,
      qHeads,
      2n,
      2n,
      1,
      null,
    );
  dev.check(op, oracle(4n, 3n));
  refuses(
    dev,
    op,
    oracle(2n, 3n),
    SHAPE,
    /ctx_len \(3\) exceeds kv_len \(2\): the context tokens must all be/,
  );
  refuses(dev, op, oracle(5n, 3n), SHAPE, /kv_len \(5\) exceeds capacity \(4\)/);
  refuses(dev, op, oracle(4n, 0n), INVALID_ARGUMENT, /ctx_len must be > 0, got 0/);
  refuses(
    dev,
    op,
    oracle(4n, 3n, out.pointer, 3n),
    SHAPE,
    /q_heads \(3\) is not a multiple of kv_heads \(2\)/,
  );
  refuses(
    dev,
    op,
    oracle(4n, 4n, k.pointer),
    SHAPE,
    /weights needs 16 elements \(64 bytes\) but its buffer holds 48/,
  );
  refuses(dev, op, oracle(4n, 3n, weights.pointer), INVALID_ARGUMENT, /out and weights overlap/);
  refuses(dev, op, oracle(4n, 2n, k.pointer), INVALID_ARGUMENT, /out and k overlap/);

  const shapeError = (message: RegExp) => ({ name: "LukvError", code: SHAPE, message });
  using shortWeights = dev.zeros("f32", [4, 2]);
  assert.throws(
    () => ops.attentionOracle(out, q, k, shortWeights, 4),
    shapeError(/weights must have shape \[4, 3\], got \[4,2\]/),
  );
  using flat = dev.zeros("f32", [6]);
  assert.throws(
    () => ops.attentionOracle(flat, q, k, weights, 4),
    shapeError(/out must have shape \[2, \*\]/),
  );
  assert.throws(
    () => ops.attentionOracle(out, q, k, weights, 2),
    shapeError(/ctx_len \(3\) exceeds kv_len \(2\)/),
  );
  assert.throws(
    () => ops.attentionOracle(out, q, k, weights, 5),
    shapeError(/kv_len \(5\) exceeds capacity/),
  );
});

deviceTest("native memory calls refuse freed, foreign and interior pointers", (dev) => {
  const s = dev.symbols;
  using x = dev.empty("f32", [8]);
  const out = new BigUint64Array(1);
  dev.check("lukv_alloc", s.lukv_alloc(64n, out));
  const freed = Deno.UnsafePointer.create(out[0]);
  dev.check("lukv_free", s.lukv_free(freed));
  refuses(
    dev,
    "lukv_free",
    s.lukv_free(freed),
    STATUS.NOT_ALLOCATED,
    /not the start of a live lukv allocation/,
  );
  refuses(
    dev,
    "lukv_free",
    s.lukv_free(Deno.UnsafePointer.offset(x.pointer, 4)),
    STATUS.NOT_ALLOCATED,
    /not the start/,
  );
  refuses(dev, "lukv_free", s.lukv_free(null), STATUS.INVALID_ARGUMENT, /NULL/);
  const host = new Float32Array(8);
  const foreign = Deno.UnsafePointer.of(host);
  refuses(
    dev,
    "lukv_add",
    s.lukv_add(x.pointer, foreign, x.pointer, 8n, null),
    STATUS.NOT_ALLOCATED,
    /a .* is not inside a live lukv allocation/,
  );
  refuses(
    dev,
    "lukv_copy_to_host",
    s.lukv_copy_to_host(host, x.pointer, 36n, null),
    STATUS.SHAPE,
    /holds 32 bytes/,
  );
  refuses(
    dev,
    "lukv_copy_device",
    s.lukv_copy_device(x.pointer, Deno.UnsafePointer.offset(x.pointer, 4), 8n, null),
    STATUS.INVALID_ARGUMENT,
    /overlap/,
  );
  refuses(dev, "lukv_alloc", s.lukv_alloc(0n, out), STATUS.INVALID_ARGUMENT, /bytes must be > 0/);
  refuses(dev, "lukv_alloc", s.lukv_alloc(1n << 62n, out), STATUS.OUT_OF_MEMORY, /cannot allocate/);
});

deviceTest("tensor ops check shapes, dtypes and devices before calling native code", async (dev) => {
  using x = dev.zeros("f32", [3, 4]);
  using w = dev.zeros("f32", [5, 6]);
  using y = dev.zeros("f32", [3, 5]);
  using ids = dev.zeros("i32", [3, 4]);
  const shapeError = { name: "LukvError", code: STATUS.SHAPE };
  assert.throws(() => ops.matmul(y, x, w), {
    ...shapeError,
    message: /w must have shape \[\*, 4\], got \[5,6\]/,
  });
  assert.throws(() => ops.softmax(y, x), { ...shapeError, message: /y must have shape \[3, 4\]/ });
  assert.throws(() => ops.add(x, ids, x), {
    name: "LukvError",
    code: STATUS.DTYPE,
    message: /a must be f32, got i32/,
  });
  assert.throws(() => ops.rope(x, w, w, 0), shapeError);
  using q = dev.zeros("f32", [1, 1, 4]), table = dev.zeros("f32", [2, 2]);
  assert.throws(
    () => ops.rope(q, table, table, -1),
    {
      name: "LukvError",
      code: STATUS.INVALID_ARGUMENT,
      message: /pos0 must be a non-negative integer/,
    },
  );
  using other = await openDevice("cpu");
  using foreign = other.zeros("f32", [3, 4]);
  assert.throws(() => ops.add(x, x, foreign), {
    name: "LukvError",
    code: STATUS.INVALID_ARGUMENT,
    message: /another device/,
  });
  assert.throws(() => dev.empty("f32", [2, 0]), RangeError);
  assert.throws(() => dev.empty("f32", [2.5]), RangeError);
  assert.throws(() => dev.empty("f64" as "f32", [2]), TypeError);
  await assert.rejects(() => openDevice("gpu" as "cpu"), TypeError);
});

deviceTest("use after close is a CLOSED error; close twice is harmless", (dev) => {
  const t = dev.zeros("f32", [4]);
  t.close();
  t.close();
  assert.ok(t.closed);
  const closed = { name: "LukvError", code: STATUS.CLOSED, message: /used after close/ };
  assert.throws(() => t.toHost(), closed);
  assert.throws(() => t.fill(1), closed);
  using y = dev.zeros("f32", [4]);
  assert.throws(() => ops.add(y, y, t), closed);
});

Deno.test("a closed device refuses work and has freed its tensors", async () => {
  const dev = await openDevice("cpu");
  const before = dev.liveBytes();
  const a = dev.zeros("f32", [1000]);
  const b = dev.zeros("bf16", [10]);
  assert.equal(dev.liveBytes(), before + 4020);
  dev.close();
  dev.close();
  using probe = await openDevice("cpu");
  assert.equal(probe.liveBytes(), before, "device.close() frees what is still open");
  assert.ok(a.closed && b.closed);
  assert.throws(() => a.toHost(), { name: "LukvError", code: STATUS.CLOSED });
  assert.throws(() => dev.zeros("f32", [1]), {
    name: "LukvError",
    code: STATUS.CLOSED,
    message: /device used after close/,
  });
  a.close();
});

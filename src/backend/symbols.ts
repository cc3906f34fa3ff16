/** The FFI symbol table: `ffi/lukv.h`, line by line, in Deno's terms. */

/**
 * Every function of `ffi/lukv.h`. Device memory is `"pointer"`, `LUKV_HOST` memory is
 * `"buffer"`; each parameter is commented with its C type. tests/backend/header_test.ts
 * parses the header and fails on any difference of name, arity or type width.
 *
 * @example
 * ```ts
 * const lib = Deno.dlopen("build/liblukv_cpu.so", SYMBOLS);
 * console.log(lib.symbols.lukv_abi_version());
 * ```
 */
export const SYMBOLS = {
  // int lukv_abi_version(void)
  lukv_abi_version: { parameters: [], result: "i32" },
  // const char* lukv_last_error(void)
  lukv_last_error: { parameters: [], result: "pointer" },
  lukv_device_count: {
    parameters: [
      "buffer", // LUKV_HOST int32_t* out_count
    ],
    result: "i32",
  },
  lukv_device_name: {
    parameters: [
      "buffer", // LUKV_HOST char* out
      "i64", // int64_t capacity
    ],
    result: "i32",
  },
  lukv_synchronize: {
    parameters: [
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_live_bytes: {
    parameters: [
      "buffer", // LUKV_HOST int64_t* out_bytes
    ],
    result: "i32",
  },
  lukv_memory_info: {
    parameters: [
      "buffer", // LUKV_HOST int64_t* out
      "i32", // int32_t reset_peak
    ],
    result: "i32",
  },
  lukv_alloc: {
    parameters: [
      "i64", // int64_t bytes
      "buffer", // LUKV_HOST void** out_ptr
    ],
    result: "i32",
  },
  lukv_map_file: {
    parameters: [
      "buffer", // LUKV_HOST const char* path
      "i64", // int64_t offset
      "i64", // int64_t bytes
      "buffer", // LUKV_HOST void** out_ptr
    ],
    result: "i32",
  },
  lukv_free: {
    parameters: [
      "pointer", // void* ptr
    ],
    result: "i32",
  },
  lukv_copy_to_device: {
    parameters: [
      "pointer", // void* dst
      "buffer", // LUKV_HOST const void* src
      "i64", // int64_t bytes
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_copy_to_host: {
    parameters: [
      "buffer", // LUKV_HOST void* dst
      "pointer", // const void* src
      "i64", // int64_t bytes
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_copy_device: {
    parameters: [
      "pointer", // void* dst
      "pointer", // const void* src
      "i64", // int64_t bytes
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_fill: {
    parameters: [
      "pointer", // void* dst
      "i32", // int32_t dtype
      "i64", // int64_t count
      "f64", // double value
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_convert: {
    parameters: [
      "pointer", // void* dst
      "i32", // int32_t dst_dtype
      "pointer", // const void* src
      "i32", // int32_t src_dtype
      "i64", // int64_t count
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_fill_random: {
    parameters: [
      "pointer", // void* dst
      "i32", // int32_t dtype
      "i64", // int64_t count
      "u64", // uint64_t seed
      "f32", // float scale
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_matmul: {
    parameters: [
      "pointer", // float* y
      "pointer", // const float* x
      "pointer", // const void* w
      "i32", // int32_t w_dtype
      "pointer", // const float* bias
      "i64", // int64_t m
      "i64", // int64_t n
      "i64", // int64_t k
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_rmsnorm: {
    parameters: [
      "pointer", // float* y
      "pointer", // const float* x
      "pointer", // const float* weight
      "i64", // int64_t rows
      "i64", // int64_t dim
      "f32", // float eps
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_rope: {
    parameters: [
      "pointer", // float* x
      "pointer", // const float* cos
      "pointer", // const float* sin
      "i64", // int64_t rows
      "i64", // int64_t heads
      "i64", // int64_t head_dim
      "i64", // int64_t pos0
      "i64", // int64_t table_len
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_silu_mul: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* gate
      "pointer", // const float* up
      "i64", // int64_t count
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_add: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* a
      "pointer", // const float* b
      "i64", // int64_t count
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_embedding: {
    parameters: [
      "pointer", // float* out
      "pointer", // const void* table
      "i32", // int32_t table_dtype
      "buffer", // LUKV_HOST const int32_t* ids
      "i64", // int64_t count
      "i64", // int64_t vocab
      "i64", // int64_t dim
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_softmax: {
    parameters: [
      "pointer", // float* y
      "pointer", // const float* x
      "i64", // int64_t rows
      "i64", // int64_t cols
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_kv_write: {
    parameters: [
      "pointer", // float* cache
      "pointer", // const float* src
      "i64", // int64_t tokens
      "i64", // int64_t heads
      "i64", // int64_t head_dim
      "i64", // int64_t pos0
      "i64", // int64_t capacity
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_attention_prefill: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* q
      "pointer", // const float* k
      "pointer", // const float* v
      "i64", // int64_t tokens
      "i64", // int64_t kv_len
      "i64", // int64_t capacity
      "i64", // int64_t q_heads
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "f32", // float scale
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_attention_decode: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* q
      "pointer", // const float* k
      "pointer", // const float* v
      "i64", // int64_t kv_len
      "i64", // int64_t capacity
      "i64", // int64_t q_heads
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "f32", // float scale
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_argmax: {
    parameters: [
      "buffer", // LUKV_HOST int32_t* out
      "pointer", // const float* x
      "i64", // int64_t rows
      "i64", // int64_t cols
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_kv_gather: {
    parameters: [
      "pointer", // float* dst
      "pointer", // const float* src
      "buffer", // LUKV_HOST const int32_t* indices
      "buffer", // LUKV_HOST const int32_t* index_offsets
      "buffer", // LUKV_HOST const int32_t* dst_offsets
      "i64", // int64_t heads
      "i64", // int64_t capacity
      "i64", // int64_t head_dim
      "i64", // int64_t dst_rows
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_kv_append: {
    parameters: [
      "pointer", // float* dst
      "pointer", // const float* src
      "buffer", // LUKV_HOST const int32_t* offsets
      "buffer", // LUKV_HOST const int32_t* lengths
      "buffer", // LUKV_HOST const int32_t* capacities
      "i64", // int64_t heads
      "i64", // int64_t head_dim
      "i64", // int64_t dst_rows
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_attention_decode_ragged: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* q
      "pointer", // const float* k
      "pointer", // const float* v
      "buffer", // LUKV_HOST const int32_t* offsets
      "buffer", // LUKV_HOST const int32_t* lengths
      "i64", // int64_t rows
      "i64", // int64_t q_heads
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "f32", // float scale
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_attention_scores: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* q
      "pointer", // const float* k
      "i64", // int64_t tokens
      "i64", // int64_t q_pos0
      "i64", // int64_t kv_len
      "i64", // int64_t capacity
      "i64", // int64_t q_heads
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "f32", // float scale
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_attention_oracle: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* q
      "pointer", // const float* k
      "pointer", // const float* weights
      "i64", // int64_t kv_len
      "i64", // int64_t ctx_len
      "i64", // int64_t capacity
      "i64", // int64_t q_heads
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "f32", // float scale
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_query_moments: {
    parameters: [
      "pointer", // float* sum
      "pointer", // float* outer
      "pointer", // const float* q
      "pointer", // const float* shift
      "i64", // int64_t rows
      "i64", // int64_t heads
      "i64", // int64_t head_dim
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_expected_attention_scores: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* k
      "pointer", // const float* v
      "buffer", // LUKV_HOST const int32_t* offsets
      "buffer", // LUKV_HOST const int32_t* lengths
      "i64", // int64_t rows
      "pointer", // const float* mean
      "pointer", // const float* cov
      "i64", // int64_t q_heads
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "f32", // float epsilon
      "pointer", // void* stream
    ],
    result: "i32",
  },
  lukv_key_scores: {
    parameters: [
      "pointer", // float* out
      "pointer", // const float* k
      "buffer", // LUKV_HOST const int32_t* offsets
      "buffer", // LUKV_HOST const int32_t* lengths
      "i64", // int64_t rows
      "i64", // int64_t kv_heads
      "i64", // int64_t head_dim
      "i32", // int32_t mode
      "pointer", // void* stream
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The ABI version this module speaks; `LUKV_ABI_VERSION` of the loaded library must match. */
export const ABI_VERSION = 6;

/** The opened library's functions, typed from {@linkcode SYMBOLS}. */
export type LukvSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

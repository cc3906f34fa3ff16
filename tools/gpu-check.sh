#!/usr/bin/env bash
# gpu-check.sh: the whole GPU check in one call, for a session lent a GPU (the `device`
# tool), within 8 minutes: unpacks Deno and its npm cache, builds (reusing a carried
# build/liblukv_cuda.so when it opens, else compiling it for sm_90), runs the CUDA parity
# suite (`deno task test:cuda`: every CUDA test must run and pass), the GPU benchmark
# (bench/gpu.ts) and, where Python's transformers is importable, the transformers
# comparison (tools/reference/hf_compare.py). Everything runs offline (--cached-only).
# Prints a short summary last; full logs go to $OUT (8 files: build.log, tests.log,
# gpu-bench.{json,log,md}, hf_compare.{json,log}, summary.md).
#
# Prepare here, once per Deno version or dependency change (.dev/ is gitignored):
#   mkdir -p .dev && xz -T2 -9 -c "$(command -v deno)" > .dev/deno.xz
#   rm -rf /tmp/lukv-deno-dir && DENO_DIR=/tmp/lukv-deno-dir deno install --frozen &&
#     tar -C /tmp/lukv-deno-dir -czf .dev/npm.tgz .
#   deno task build            # optional: build/liblukv_cuda.so is reused there when it opens
# Run (device tool): command `bash tools/gpu-check.sh`, timeout_s 600,
#   carry [".dev/deno.xz", ".dev/npm.tgz", "build"]
# Dry run here, no GPU needed (CPU, small shapes, fixture comparison; logs in .dev/gpu-check-out):
#   LUKV_SKIP_GPU=1 bash tools/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
elapsed() { echo $(($(date +%s) - started)); }
log() { echo "[$(elapsed) s] $*"; }
skip_gpu="${LUKV_SKIP_GPU:-0}"
out="${OUT:-.dev/gpu-check-out}"
work=/tmp/lukv-gpu-check
mkdir -p "$out" "$work"
summary="$out/summary.md"
status=0
note() { echo "$*" >>"$summary"; }
echo "## gpu-check $(date -u +%Y-%m-%dT%H:%MZ)" >"$summary"

# Deno and the npm cache.
if [ -f .dev/deno.xz ]; then
  xz -dc .dev/deno.xz >"$work/deno" 2>/dev/null ||
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(".dev/deno.xz"), sys.stdout.buffer)' >"$work/deno"
  chmod +x "$work/deno"
  deno="$work/deno"
else
  deno="$(command -v deno)" || { echo "no .dev/deno.xz and no deno on PATH (see this script's header)"; exit 1; }
fi
if [ -f .dev/npm.tgz ]; then
  rm -rf "$work/deno-dir" && mkdir -p "$work/deno-dir" && tar -C "$work/deno-dir" -xzf .dev/npm.tgz
  export DENO_DIR="$work/deno-dir"
fi
export PATH="$(dirname "$deno"):$PATH" NO_COLOR=1 DENO_NO_UPDATE_CHECK=1
flags=(--cached-only --no-check)
note "- deno: $("$deno" --version | head -1), DENO_DIR=${DENO_DIR:-default}"

if [ "$skip_gpu" = 1 ]; then
  note "- GPU: skipped (LUKV_SKIP_GPU=1): CPU only, small shapes"
else
  note "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader 2>&1 | head -1)"
  # cuBLAS from Python's nvidia-cublas wheel when the loader path has none.
  if [ -z "${LUKV_CUBLAS:-}" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so'; then
    wheel="$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)"
    cublas="$(ls "$wheel"/libcublas.so.* 2>/dev/null | head -1)"
    [ -n "$cublas" ] && export LUKV_CUBLAS="$cublas"
  fi
  note "- LUKV_CUBLAS=${LUKV_CUBLAS:-<loader search>}"
fi

# Build: the CPU library always (-march=native for this machine); the carried CUDA one
# when it opens, else a fresh sm_90 build. The libraries are touched so that the
# `deno task build` inside test:cuda finds them up to date.
log "build"
probe='import { openDevice } from "./mod.ts"; const d = await openDevice("cuda"); console.log(d.name);'
(
  "$deno" run -A "${flags[@]}" ffi/build.ts --cpu-only --force || exit 1
  [ "$skip_gpu" = 1 ] && { echo "CUDA library not needed (LUKV_SKIP_GPU=1)"; exit 0; }
  if timeout 90 "$deno" eval "${flags[@]}" "$probe"; then
    echo "carried build/liblukv_cuda.so opens: reused"
    exit 0
  fi
  echo "carried CUDA library missing or not opening: building it here for sm_90"
  "$deno" run -A "${flags[@]}" ffi/build.ts --force --cuda --cuda-arch 90 && timeout 90 "$deno" eval "${flags[@]}" "$probe"
) >"$out/build.log" 2>&1
build_rc=$?
touch build/liblukv_*.so 2>/dev/null
note "- build: $([ $build_rc = 0 ] && tail -1 "$out/build.log" || echo "FAILED (build.log)")"
[ $build_rc = 0 ] || status=1

# Tests: every deviceTest's CUDA variant and the model parity tests must run and pass.
log "tests"
if [ "$skip_gpu" = 1 ]; then
  timeout 300 "$deno" test -A "${flags[@]}" tests/ >"$out/tests.log" 2>&1
else
  timeout 240 "$deno" task test:cuda "${flags[@]}" >"$out/tests.log" 2>&1
fi
tests_rc=$?
[ $tests_rc = 0 ] || status=1
cuda_ok=$(grep -cE '\[cuda\] \.\.\. .*ok' "$out/tests.log")
note "- tests ($([ "$skip_gpu" = 1 ] && echo "deno test, CPU" || echo "deno task test:cuda"), exit $tests_rc):" \
  "$(grep -E '^(ok|FAILED) \|' "$out/tests.log" | tail -1), CUDA tests passed: $cuda_ok"
grep -E '\.\.\. FAILED' "$out/tests.log" | head -20 | sed 's/^/  - /' >>"$summary"

# Benchmark: the two long prefills get what is left of 8 minutes once the bench's fixed
# costs (attention part, model, calibration prefills, decode: about 90 s) and the
# transformers comparison (about 60 s) are set aside; bench/gpu.ts shrinks the context
# when its prediction does not fit.
log "bench"
left=$((470 - $(elapsed)))
budget=$((left - 150))
budget=$((budget > 240 ? 240 : budget < 30 ? 30 : budget))
if [ "$skip_gpu" = 1 ]; then
  bench_args=(--device cpu --model small --context 1024 --attention-contexts 4096 --decode-tokens 4)
else
  bench_args=(--budget-s "$budget")
fi
timeout $((left > 170 ? left - 50 : 120)) "$deno" run -A "${flags[@]}" bench/gpu.ts --out "$out" "${bench_args[@]}" \
  >"$work/bench.md" 2>&1
bench_rc=$?
[ $bench_rc = 0 ] || status=1
note "- bench/gpu.ts (exit $bench_rc, prefill budget ${budget} s):"
note ""
if [ -s "$out/gpu-bench.md" ]; then cat "$out/gpu-bench.md" >>"$summary"; else tail -5 "$work/bench.md" >>"$summary"; fi

# transformers comparison (the fixtures stand in for it on a dry run without transformers).
log "transformers comparison"
hf=(python3 tools/reference/hf_compare.py --deno "$deno" --deno-flags="--cached-only --no-check" --out "$out")
if python3 -c 'import torch, transformers' 2>/dev/null; then
  timeout 120 "${hf[@]}" --devices "$([ "$skip_gpu" = 1 ] && echo cpu || echo cpu,cuda)" >"$work/hf.txt" 2>&1
  hf_rc=$?
  [ $hf_rc = 0 ] || status=1
  note "- hf_compare.py (exit $hf_rc):"
  tail -n 12 "$work/hf.txt" >>"$summary"
elif [ "$skip_gpu" = 1 ]; then
  timeout 120 "${hf[@]}" --fixtures --devices cpu >"$work/hf.txt" 2>&1
  hf_rc=$?
  [ $hf_rc = 0 ] || status=1
  note "- hf_compare.py --fixtures (dry run: transformers is not importable here; exit $hf_rc):"
  tail -n 12 "$work/hf.txt" >>"$summary"
else
  note "- hf_compare.py: skipped, transformers is not importable by python3"
fi

note ""
note "gpu-check: $([ $status = 0 ] && echo passed || echo FAILED) in $(elapsed) s; logs in $out"
log "done"
echo
cat "$summary"
exit $status

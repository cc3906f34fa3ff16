#!/usr/bin/env bash
# gpu-check.sh: the prepared device run for a session lent a GPU (see the `device` tool):
# builds the CUDA library for sm_90, runs the whole test suite (the CUDA variants run
# there) and the op benchmark on CUDA, and leaves logs in $OUT (or ./gpu-check-out).
#
# Here, once:  mkdir -p .dev && xz -T2 -9 -c "$(command -v deno)" > .dev/deno.xz
#              echo /.dev/ >> .git/info/exclude
# Then run (carry [".dev"]):  bash tools/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-check-out}"
mkdir -p "$out"

if [ -f .dev/deno.xz ]; then
  (xz -dc .dev/deno.xz 2>/dev/null || python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.open(".dev/deno.xz").read())') > /tmp/deno
  chmod +x /tmp/deno
  deno=/tmp/deno
else
  deno="$(command -v deno)"
fi
perms=(--allow-ffi --allow-read --allow-write --allow-run --allow-env)

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
# pip's cuBLAS (from PyTorch's wheels) when the system has none on the loader path.
if [ -z "${LUKV_CUBLAS:-}" ]; then
  cublas="$(python3 -c 'import nvidia.cublas, os; print(os.path.join(nvidia.cublas.__path__[0], "lib", "libcublas.so.12"))' 2>/dev/null || true)"
  [ -f "$cublas" ] && export LUKV_CUBLAS="$cublas"
fi
echo "LUKV_CUBLAS=${LUKV_CUBLAS:-<system search>}" | tee -a "$out/gpu.txt"

"$deno" run "${perms[@]}" ffi/build.ts --force --cuda-arch 90 2>&1 | tee "$out/build.log"
"$deno" test "${perms[@]}" tests/ 2>&1 | tee "$out/test.log"
LUKV_BENCH_DEVICE=cuda "$deno" run --allow-read --allow-run bench/report.ts 2>&1 | tee "$out/bench-cuda.md"

#!/bin/sh
# The one command that makes models/tiny from nothing, on 2 CPU cores (~6 hours; poll the log):
#   nohup sh tools/train/make_tiny.sh > tools/train/runs/train.log 2>&1 &
# A base run, a recall fine-tune, passes of the chain fine-tune, of the names fine-tune and of its
# long-context variant, each from the previous run's weights.
# Every run resumes from its checkpoint, so after an interruption run this again: finished runs are
# skipped (they only remeasure their perplexity) and the interrupted one goes on as the same run.
# Each pass has its own seed, so each sees new data.
# `make_tiny.sh gpu` runs the same sequence with the presets' gpu twins (a wider, deeper model, 4x the
# batch, twice the steps; runs named gpu-*), for a machine with CUDA. It has not been run yet.
set -e
case "${1:-cpu}" in
  cpu) kind=cpu run= ;;
  gpu) kind=gpu run=gpu- ;;
  *) echo "usage: make_tiny.sh [cpu|gpu]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."
mkdir -p tools/train/runs
train() { /usr/bin/python3 tools/train/train.py "$@"; }
/usr/bin/python3 tools/train/tokenizer.py
train --run ${run}final --preset $kind --seed 0
train --run ${run}recall4 --preset $kind-finetune --from ${run}final --seed 0
train --run ${run}chain --preset $kind-chain --from ${run}recall4 --seed 0
train --run ${run}chain2 --preset $kind-chain --from ${run}chain --seed 1
train --run ${run}chain3 --preset $kind-chain --from ${run}chain2 --seed 2
train --run ${run}apart --preset $kind-names-apart --from ${run}chain3 --seed 3
train --run ${run}apart2 --preset $kind-names-apart --from ${run}apart --seed 4
train --run ${run}apart3 --preset $kind-names-apart --from ${run}apart2 --seed 5
train --run ${run}long1 --preset $kind-names-apart-long --from ${run}apart3 --seed 6
train --run ${run}long2 --preset $kind-names-apart-long --from ${run}long1 --seed 7 --export

#!/bin/sh
# The one command that makes models/tiny from nothing, on 2 CPU cores (~6 hours; poll the log):
#   nohup sh tools/train/make_tiny.sh > tools/train/runs/train.log 2>&1 &
# A base run, a recall fine-tune, passes of the chain fine-tune, of the names fine-tune and of its
# long-context variant, each from the previous run's weights.
# Every run resumes from its checkpoint, so after an interruption run this again: finished runs are
# skipped (they only remeasure their perplexity) and the interrupted one goes on as the same run.
# Each pass has its own seed, so each sees new data.
set -e
cd "$(dirname "$0")/../.."
mkdir -p tools/train/runs
train() { /usr/bin/python3 tools/train/train.py "$@"; }
/usr/bin/python3 tools/train/tokenizer.py
train --run final --seed 0
train --run recall4 --preset cpu-finetune --from final --seed 0
train --run chain --preset cpu-chain --from recall4 --seed 0
train --run chain2 --preset cpu-chain --from chain --seed 1
train --run chain3 --preset cpu-chain --from chain2 --seed 2
train --run apart --preset cpu-names-apart --from chain3 --seed 3
train --run apart2 --preset cpu-names-apart --from apart --seed 4
train --run apart3 --preset cpu-names-apart --from apart2 --seed 5
train --run long1 --preset cpu-names-apart-long --from apart3 --seed 6
train --run long2 --preset cpu-names-apart-long --from long1 --seed 7 --export

#!/usr/bin/env bash
# Rebuilds models/trrg-mini from seed: phantom data set, stage 1 (contrastive pre-training), stage 2 (clue
# injection, clue interaction, decoder), ONNX export with parity references, evaluation on the held-out split
# through the service's own inference code, and the model card.
#   npm run train:model            (TRRG_TRAIN_DIR sets the scratch folder, default /tmp/trrg-mini-training)
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKAGES=(python3-torch python3-onnx python3-numpy libopenblas0-pthread)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian"
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's own python3 has the packages above (a pyenv python3 earlier on PATH does not).
PYTHON=/usr/bin/python3
SCRATCH=${TRRG_TRAIN_DIR:-/tmp/trrg-mini-training}
DATA=$SCRATCH/data
WORK=$SCRATCH/work
OUT=models/trrg-mini
TRAIN=${TRRG_TRAIN_STUDIES:-5000}
rm -rf "$SCRATCH" && mkdir -p "$DATA" "$WORK"
declare -A seconds

step() {
  local name=$1
  shift
  local start=$SECONDS
  echo "== $name"
  "$@"
  seconds[$name]=$((SECONDS - start))
}

step dataset npx tsx models/training/make-dataset.ts --out "$DATA" --train "$TRAIN" --val 600 --test 600
step stage1 env PYTHONPATH=models/training $PYTHON models/training/stage1.py --data "$DATA" --work "$WORK"
step stage2 env PYTHONPATH=models/training $PYTHON models/training/stage2.py --data "$DATA" --work "$WORK"
rm -rf "$OUT" && mkdir -p "$OUT"
step export env PYTHONPATH=models/training $PYTHON models/training/export.py --data "$DATA" --work "$WORK" --out "$OUT"
step evaluate npx tsx models/training/evaluate.ts --data "$DATA" --model "$OUT"

timings="{"
for name in dataset stage1 stage2 export evaluate; do timings+="\"$name\": ${seconds[$name]}, "; done
timings+="\"cores\": $(nproc), \"torch\": \"$($PYTHON -c 'import torch; print(torch.__version__)')\", \"trainStudies\": $TRAIN}"
echo "$timings" > "$OUT/training-run.json"
npx tsx models/training/write-card.ts --model "$OUT"
echo "done in $SECONDS s; model set in $OUT"

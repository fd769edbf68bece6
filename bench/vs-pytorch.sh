#!/usr/bin/env bash
# lowbit beside PyTorch on the default model's shape, same 2 threads: training tokens/s of
# `./lowbit pretrain --steps N` (batch 8 x 128) against bench/pytorch_llama.py's training steps, and
# forward tokens/s of `./lowbit eval` (windows of 128 tokens) against PyTorch's no-grad forward of
# the same windows. PyTorch runs with OMP_WAIT_POLICY PASSIVE and ACTIVE and its better setting is
# the baseline. Each measurement REPS times, interleaved; medians. Needs python3 with torch
# (Debian: apt-get install python3-torch; PYTHON names the interpreter); without it, says so and
# exits 0.
# Usage: bench/vs-pytorch.sh [steps (20)] [reps (3)] [eval windows (40)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
steps=${1:-20} reps=${2:-3} windows=${3:-40}
py=""
for c in ${PYTHON:-} python3 /usr/bin/python3; do # Debian's torch is in the system python, which pyenv may shadow
  if "$c" -c 'import torch' 2>/dev/null; then py=$c; break; fi
done
if [ -z "$py" ]; then
  echo "vs-pytorch: no python3 with torch (Debian: apt-get install python3-torch; or set PYTHON); nothing measured" >&2
  exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A runs
for ((r = 1; r <= reps; r++)); do
  t=$("$root/lowbit" pretrain --steps "$steps" --out "$out/m" 2>&1 | sed -n 's/.*steps in .* (\([0-9,]*\) tokens\/s).*/\1/p' | tr -d ,)
  rm -rf "$out/m"
  f=$("$root/lowbit" eval --model default --max-windows "$windows" --json 2>/dev/null \
    | "$py" -c 'import json,sys; print(round(json.load(sys.stdin)["forward_tokens_per_s"]))')
  runs[lowbit_train]+=" $t" runs[lowbit_forward]+=" $f"
  echo "run $r: lowbit training $t tokens/s, forward $f tokens/s" >&2
  for policy in PASSIVE ACTIVE; do
    j=$(OMP_WAIT_POLICY=$policy "$py" "$root/bench/pytorch_llama.py" --steps "$steps" --threads 2)
    read -r pt pf < <("$py" -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["train_tokens_per_s"]), round(d["forward_tokens_per_s"]))' "$j")
    runs[torch_train_$policy]+=" $pt" runs[torch_forward_$policy]+=" $pf"
    echo "run $r: PyTorch OMP_WAIT_POLICY=$policy training $pt tokens/s, forward $pf tokens/s ($j)" >&2
  done
done
best() { # the better PyTorch median of the two wait policies for $1 (train|forward)
  local a b; a=$(median "${runs[torch_$1_PASSIVE]}"); b=$(median "${runs[torch_$1_ACTIVE]}")
  awk -v a="$a" -v b="$b" 'BEGIN {print (a > b ? a : b)}'
}
echo "| (median of $reps) | lowbit tokens/s | PyTorch PASSIVE | PyTorch ACTIVE | lowbit / best PyTorch |"
echo "| --- | --- | --- | --- | --- |"
for what in train forward; do
  l=$(median "${runs[lowbit_$what]}")
  echo "| $what | $l | $(median "${runs[torch_${what}_PASSIVE]}") | $(median "${runs[torch_${what}_ACTIVE]}") | $(awk -v l="$l" -v b="$(best $what)" 'BEGIN {printf "%.2fx", l / b}') |"
done

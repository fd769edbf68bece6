#!/usr/bin/env bash
# Training tokens/s of `./lowbit pretrain --steps N` under each way of sharing the cores between
# liblowbit's OpenMP threads and OpenBLAS's: OpenBLAS built for pthreads or for OpenMP (Debian's
# libopenblas0-pthread / libopenblas0-openmp), idle OpenMP threads spinning (ACTIVE) or sleeping
# (PASSIVE). Runs the settings interleaved, REPS times, and prints the median of each.
# Usage: bench/thread-pool.sh [steps (20)] [reps (3)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
steps=${1:-20} reps=${2:-3}
lib=/usr/lib/x86_64-linux-gnu
declare -A blas=([pthread]=$lib/openblas-pthread/libopenblas.so.0 [openmp]=$lib/openblas-openmp/libopenblas.so.0)
settings=()
for policy in PASSIVE ACTIVE; do
  for b in pthread openmp; do
    if [ -f "${blas[$b]}" ]; then settings+=("$b $policy"); else echo "skipping $b: ${blas[$b]} is not installed" >&2; fi
  done
done
declare -A runs
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((r = 1; r <= reps; r++)); do
  for s in "${settings[@]}"; do
    set -- $s
    tps=$(LOWBIT_BLAS=${blas[$1]} OMP_WAIT_POLICY=$2 "$root/lowbit" pretrain --steps "$steps" --out "$out/m" 2>&1 \
      | sed -n 's/.*steps in .* (\([0-9,]*\) tokens\/s).*/\1/p' | tr -d ,)
    rm -rf "$out/m"
    runs[$s]="${runs[$s]:-} $tps"
    echo "run $r: OpenBLAS $1, OMP_WAIT_POLICY=$2: $tps tokens/s" >&2
  done
done
echo "| OpenBLAS threading | OMP_WAIT_POLICY | training tokens/s (median of $reps) | runs |"
echo "| --- | --- | --- | --- |"
for s in "${settings[@]}"; do
  set -- $s
  median=$(tr ' ' '\n' <<<"${runs[$s]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "| $1 | $2 | $median |${runs[$s]} |"
done

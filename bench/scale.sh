#!/usr/bin/env bash
# Time and memory against model size, on this machine: for each shape, `./lowbit synth` writes a
# random-weight bf16 checkpoint of the real shape, then
#   quantize --method rtn --wbits 4 --abits 8 --eval-windows 0   (time, peak anonymous memory, peak RSS)
#   generate --max-tokens 128 --read-floor from the result       (load, decode vs the read floor, RSS vs the file)
#   eval --reference (KL on 8 sequences of 32 tokens sampled from the bf16 model), with --eval
# and prints a markdown table (also written to bench/results/scale-<date>.md). Each model folder is
# removed after its rows unless --keep. Not a test: it takes minutes to an hour and needs the disk
# (a 13B bf16 checkpoint is 26 GB) and memory (file-backed pages of larger-than-RAM checkpoints are fine).
#
# usage: bench/scale.sh [--shapes tinyllama-1.1b,llama-7b,llama-13b] [--work DIR] [--eval] [--keep]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shapes=tinyllama-1.1b,llama-7b,llama-13b work="$root/bench/target/scale" keep="" eval=""
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --eval) eval=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
lowbit="$root/lowbit"
mkdir -p "$work" "$root/bench/results"
get() { # get KEY FILE: a number or string field of a one-line JSON object
  sed -n "s/.*\"$1\" *: *\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2" | head -1
}
gb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
mb_to_gb() { awk -v m="$1" 'BEGIN { printf "%.2f", m / 1024 }'; }

cpu=$("$lowbit" info 2>/dev/null | sed -n 's/^CPU: *//p; s/^SIMD: *//p' | paste -sd ';' -)
out="$root/bench/results/scale-$(date -u +%Y%m%d-%H%M).md"
{
  echo "# lowbit at scale ($(date -u +%Y-%m-%d), $cpu, $(free -g | awk '/Mem:/ {print $2}') GiB RAM)"
  echo
  echo "| model | bf16 checkpoint | quantize RTN W4A8: time | peak anon | peak RSS | W4A8 file | generate: load | decode ms/token | read floor ms | decode / floor | peak RSS / (file) | eval --reference |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} | tee "$out"
for shape in ${shapes//,/ }; do
  fp="$work/$shape" q="$work/$shape-w4a8"
  rm -rf "$q"
  [ -f "$fp/config.json" ] || "$lowbit" synth --shape "$shape" --out "$fp" >&2
  fp_bytes=$(du -sb "$fp" | cut -f1)
  "$lowbit" quantize --method rtn --wbits 4 --abits 8 --eval-windows 0 --model "$fp" --out "$q" --json > "$work/q.json"
  q_bytes=$(du -sb "$q" | cut -f1)
  "$lowbit" generate --model "$q" --max-tokens 128 --temperature 0 --read-floor --json > "$work/g.json"
  decode_ms=$(awk -v d="$(get decode_ms "$work/g.json")" -v n="$(get decode_tokens "$work/g.json")" 'BEGIN { printf "%.1f", d / n }')
  floor=$(awk -v f="$(get read_floor_ms "$work/g.json")" 'BEGIN { printf "%.1f", f }')
  ratio=$(awk -v a="$decode_ms" -v b="$floor" 'BEGIN { printf "%.2fx", a / b }')
  rss=$(get peak_rss_mb "$work/g.json")
  eval_col="-"
  if [ -n "$eval" ]; then
    "$lowbit" eval --model "$q" --reference "$fp" --kl-sequences 8 --seq-len 32 --json > "$work/e.json"
    eval_col="$(awk -v s="$(get seconds "$work/e.json")" 'BEGIN { printf "%.0f s", s }'), KL $(awk -v k="$(get kl_to_reference "$work/e.json")" 'BEGIN { printf "%.4f", k }'), anon $(mb_to_gb "$(get peak_anon_mb "$work/e.json")") GB"
  fi
  printf '| %s | %s GB | %.0f s | %s GB | %s GB | %s GB | %.2f s | %s | %s | %s | %s GB (%s GB) | %s |\n' \
    "$shape" "$(gb "$fp_bytes")" "$(get seconds "$work/q.json")" "$(mb_to_gb "$(get peak_anon_mb "$work/q.json")")" \
    "$(mb_to_gb "$(get peak_rss_mb "$work/q.json")")" "$(gb "$q_bytes")" "$(awk -v l="$(get load_ms "$work/g.json")" 'BEGIN { printf "%.3f", l / 1000 }')" \
    "$decode_ms" "$floor" "$ratio" "$(mb_to_gb "$rss")" "$(gb "$q_bytes")" "$eval_col" | tee -a "$out"
  [ -n "$keep" ] || rm -rf "$fp" "$q"
done
echo "wrote $out" >&2

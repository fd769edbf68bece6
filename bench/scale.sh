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
# With --methods, the calibrated and trained methods instead, with small settings (written to
# bench/results/scale-methods-<date>.md): QLLM W4A4 and DL-QAT W3, each --steps 2, on the synthetic
# checkpoint given the default model's tokenizer (its ids are a subset of every shape's vocabulary),
# so calibration comes from the training text as for a real model instead of text sampled from it.
# QLLM runs --qllm-blocks blocks (default 2, one per round; --stop-after) and the time per block is
# split into threshold search, error correction and the rest (forward passes over the calibration
# tokens); each part is scaled to all blocks at the CLI defaults by the tokens it processes: search by
# search tokens (2048 / 32: an upper bound, as part of it is per candidate, whatever the tokens), the
# rest by calibration tokens (64 x 128 / 4 x 32), error correction by 3 x steps x batch x seq-len
# (forward + backward) + 2 x calibration tokens (the mse before and after), i.e.
# (3 x 200 x 8 x 128 + 2 x 8192) / (3 x 2 x 1 x 32 + 2 x 128).
#
# usage: bench/scale.sh [--shapes tinyllama-1.1b,llama-7b,llama-13b] [--work DIR] [--eval] [--keep]
#                       [--methods [--qllm-blocks N]]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shapes=tinyllama-1.1b,llama-7b,llama-13b work="$root/bench/target/scale" keep="" eval="" methods="" qllm_blocks=2
while [ $# -gt 0 ]; do
  case "$1" in
    --shapes) shapes=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --eval) eval=1; shift ;;
    --methods) methods=1; shift ;;
    --qllm-blocks) qllm_blocks=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
ram="$(free -g | awk '/Mem:/ {print $2}') GiB RAM"
one_line() { # the last line a failed run printed (its one-line error)
  tail -1 "$1" | tr '|' '/'
}
if [ -n "$methods" ]; then
  out="$root/bench/results/scale-methods-$(date -u +%Y%m%d-%H%M).md"
  small=(--steps 2 --calib-samples 4 --seq-len 32 --batch 1 --eval-windows 0 --json)
  {
    echo "# lowbit's methods at scale ($(date -u +%Y-%m-%d), $cpu, $ram)"
    echo
    echo "Settings: \`${small[*]}\`; QLLM also \`--search-tokens 32 --blocks-per-round 1 --stop-after $qllm_blocks\`."
    echo
    echo "| model | method | time | per block / step | peak anon | peak RSS | QLLM per block: search, error correction, rest | all blocks at these settings | CLI defaults, estimated |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  } | tee "$out"
  for shape in ${shapes//,/ }; do
    fp="$work/$shape"
    [ -f "$fp/config.json" ] || "$lowbit" synth --shape "$shape" --out "$fp" >&2
    [ -f "$fp/tokenizer.json" ] || cp "$root/models/default/tokenizer.json" "$fp/"
    layers=$(sed -n 's/.*"num_hidden_layers" *: *\([0-9]*\).*/\1/p' "$fp/config.json")
    q="$work/$shape-qllm"
    rm -rf "$q"
    start=$(date +%s)
    "$lowbit" quantize --method qllm --wbits 4 --abits 4 --search-tokens 32 --blocks-per-round 1 \
      --stop-after "$qllm_blocks" "${small[@]}" --model "$fp" --out "$q" > "$work/qllm.json" 2> "$work/qllm.log" || true
    wall=$(( $(date +%s) - start ))
    # "blocks 0-0 done in 212.3 s (212.3 s per block: search 170.1, error correction 20.2)", "peak anonymous memory 9000 MB, peak RSS ..."
    sed -n 's/^blocks [0-9]*-[0-9]* done in \([0-9.]*\) s .*search \([0-9.]*\), error correction \([0-9.]*\))$/\1 \2 \3/p' "$work/qllm.log" \
      > "$work/qllm.rounds"
    anon=$(sed -n 's/^peak anonymous memory \([0-9]*\) MB, peak RSS \([0-9]*\) MB$/\1/p' "$work/qllm.log")
    rss=$(sed -n 's/^peak anonymous memory \([0-9]*\) MB, peak RSS \([0-9]*\) MB$/\2/p' "$work/qllm.log")
    if [ -s "$work/qllm.rounds" ] && [ -n "$anon" ]; then
      awk -v n="$layers" -v w="$wall" -v a="$(mb_to_gb "$anon")" -v r="$(mb_to_gb "$rss")" -v shape="$shape" '
        { t += $1; s += $2; e += $3; b++ }
        END {
          o = t - s - e
          full = n * (s / b * 2048 / 32 + e / b * (3 * 200 * 8 * 128 + 2 * 8192) / (3 * 2 * 1 * 32 + 2 * 128) + o / b * 8192 / 128)
          printf "| %s | qllm W4A4, %d of %d blocks | %d s | %.0f s per block | %s GB | %s GB | %.0f, %.0f, %.0f s | %.1f h | %.0f h |\n",
            shape, b, n, w, t / b, a, r, s / b, e / b, o / b, n * t / b / 3600, full / 3600 }' "$work/qllm.rounds" | tee -a "$out"
    else
      echo "| $shape | qllm W4A4 | failed: $(one_line "$work/qllm.log") | | | | | | |" | tee -a "$out"
    fi
    rm -rf "$q"
    q="$work/$shape-dlqat"
    if "$lowbit" quantize --method dlqat --wbits 3 "${small[@]}" --model "$fp" --out "$q" \
        > "$work/dlqat.json" 2> "$work/dlqat.log"; then
      j="$work/dlqat.json"
      printf '| %s | dlqat W3 | %.0f s | %.1f s per step (with load and export) | %s GB | %s GB | | | %.1f h |\n' \
        "$shape" "$(get seconds "$j")" "$(awk -v t="$(get seconds "$j")" 'BEGIN { print t / 2 }')" \
        "$(mb_to_gb "$(get peak_anon_mb "$j")")" "$(mb_to_gb "$(get peak_rss_mb "$j")")" \
        "$(awk -v t="$(get seconds "$j")" 'BEGIN { print t / 2 * 200 / 3600 }')" | tee -a "$out"
    else
      echo "| $shape | dlqat W3 | refused or failed: $(one_line "$work/dlqat.log") | | | | | | |" | tee -a "$out"
    fi
    rm -rf "$q"
    [ -n "$keep" ] || rm -rf "$fp"
  done
  echo "wrote $out" >&2
  exit 0
fi
out="$root/bench/results/scale-$(date -u +%Y%m%d-%H%M).md"
{
  echo "# lowbit at scale ($(date -u +%Y-%m-%d), $cpu, $ram)"
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

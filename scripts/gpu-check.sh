#!/usr/bin/env bash
# The GPU check: one command for a GPU machine lent for minutes (README: GPU check). From the project root,
# with .device/ from scripts/gpu-pack.sh beside it:
#   bash scripts/gpu-check.sh            on the GPU machine (about 8 minutes at most)
#   bash scripts/gpu-check.sh --dry-run  here: the same steps on the host emulation of CUDA and its stand-in
#                                        libraries (native/tests/emulation), tiny benchmark shapes
# Steps, each time-boxed, each run whatever the others did:
#   1 the GPU, driver, nvcc, compute-sanitizer, PyTorch and `lowbit info`
#   2 test_cuda_api under compute-sanitizer memcheck, then racecheck (time allowing); the JUnit gpu tag
#   3 CudaMatMulBench --short: W4 g128 by both small-M kernels and tensor cores vs cuBLAS fp16/bf16
#   4 the default model's logits: lowbit on the GPU, lowbit on the CPU, transformers' LlamaForCausalLM
#   5 summary.json: pass/fail per step and test, medians, ratios, logit differences
# The dry run gives each step 5 times its GPU time box (the emulation runs each CUDA thread as a host thread).
# Everything lands in $OUT (default: gpu-check-out/): gpu-check.log, 1-info.log, 2-native.log, 2-junit.log,
# 3-bench.log, 4-logits.log and summary.json.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dry=0
case "${1:-}" in
  --dry-run) dry=1 ;;
  "") ;;
  *) echo "usage: bash scripts/gpu-check.sh [--dry-run]" >&2; exit 2 ;;
esac
OUT=${OUT:-$root/gpu-check-out}
mkdir -p "$OUT"
scale=$(( dry ? 5 : 1 ))
dev=$root/.device
if [ ! -f "$dev/jre.tgz" ]; then
  echo "gpu-check.sh: $dev/jre.tgz missing: run scripts/gpu-pack.sh first (and carry .device)" >&2
  exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
main_log=$OUT/gpu-check.log
: > "$main_log"
say() { echo "[$(( $(date +%s) - start ))s] $*" | tee -a "$main_log"; }
steps=$work/steps.tsv

# step NAME SECONDS LOG COMMAND: runs COMMAND (a bash string) for at most SECONDS, appending to LOG, and
# records passed (exit 0), skipped (77), timed out (124/137) or failed.
step() {
  local name=$1 limit=$(( $2 * scale )) log=$3 cmd=$4 t0 rc status
  t0=$(date +%s)
  say "step $name (at most ${limit}s)"
  echo "==== $name: $cmd" >> "$log"
  timeout -k 5 "$limit" bash -eo pipefail -c "$cmd" >> "$log" 2>&1
  rc=$?
  case $rc in
    0) status=passed ;;
    77) status=skipped ;;
    124|137) status=timed_out ;;
    *) status=failed ;;
  esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$(( $(date +%s) - t0 ))" >> "$steps"
  say "step $name: $status (exit $rc)"
}
skip() { printf '%s\tskipped\t-\t0\t%s\n' "$1" "$2" >> "$steps"; say "step $1: skipped: $2"; }
elapsed() { echo $(( $(date +%s) - start )); }

# The Java runtime, OpenBLAS and the class path from .device/.
tar -C "$work" -xzf "$dev/jre.tgz" || { echo "gpu-check.sh: cannot unpack $dev/jre.tgz" >&2; exit 2; }
tar -C "$work" -xzf "$dev/blas.tgz" || say "cannot unpack $dev/blas.tgz: the CPU side (lowbit info, step 4) will fail"
JAVA=$work/jre/bin/java
cp=$(ls -d "$dev"/classes/* | tr '\n' ':')$(ls "$dev"/lib/*.jar | grep -v console-standalone | tr '\n' ':')
console=$(ls "$dev"/lib/junit-platform-console-standalone-*.jar)
jvm=(--enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector -Xss4m -Dlowbit.home="$root"
     -Dlowbit.shared.dir="$root/../shared")
export LOWBIT_BLAS=$work/blas/libopenblas.so.0

if [ $dry = 1 ]; then
  build=$root/native/build
  [ -f "$build/CMakeCache.txt" ] || { echo "gpu-check.sh --dry-run: configure native/build first (./test or mvn)" >&2; exit 2; }
  say "dry run: building the host emulation of liblowbit_cuda and the stand-ins"
  cmake --build "$build" --target test_cuda_emulated lowbit_cuda_emulated cudart_host cublas_host cuda_driver_host -j 2 \
    >> "$main_log" 2>&1 || say "the emulation build failed (see above)"
  export LOWBIT_NATIVE_DIR=$build/emulation/native LOWBIT_CUDA_LIBS=$build/emulation/cuda
  export LD_LIBRARY_PATH=$build/emulation/cuda:$work/blas:$build/emulation/native${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  native_test=$build/tests/emulation/test_cuda_emulated
  bench_args=(--shapes 32x128,16x256 --m 1,16,20 --samples 3 --calls 2)
  tokens=8
else
  export LOWBIT_NATIVE_DIR=$dev/native
  # cuBLAS from the PyTorch wheel's nvidia/*/lib (no CUDA toolkit library is needed beyond the driver)
  LOWBIT_CUDA_LIBS=$(python3 -c 'import glob, site
dirs = site.getsitepackages() + [site.getusersitepackages()]
print(":".join(sorted({p for d in dirs for p in glob.glob(d + "/nvidia/*/lib")})))' 2>/dev/null)
  export LOWBIT_CUDA_LIBS
  export LD_LIBRARY_PATH=$dev/native:$work/blas${LOWBIT_CUDA_LIBS:+:$LOWBIT_CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  native_test=$dev/native/test_cuda_api
  bench_args=()
  tokens=256
fi
java_cmd="'$JAVA' ${jvm[*]} -cp '$cp'"

step 1-info 25 "$OUT/1-info.log" "
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || echo 'no nvidia-smi'
  nvcc --version | tail -2 || echo 'no nvcc'
  compute-sanitizer --version | head -2 || echo 'no compute-sanitizer'
  python3 -c 'import torch, transformers as t; print(\"torch\", torch.__version__, \"CUDA\", torch.version.cuda, \"transformers\", t.__version__)' \
    || echo 'no torch/transformers'
  echo LOWBIT_CUDA_LIBS=\$LOWBIT_CUDA_LIBS
  $java_cmd dev.lowbit.cli.LowbitCli info"

if [ $dry = 1 ]; then
  step 2-native 80 "$OUT/2-native.log" "'$native_test'"
  skip 2-racecheck "no compute-sanitizer on the host emulation (the dry run runs the test itself)"
else
  step 2-native 80 "$OUT/2-native.log" "compute-sanitizer --tool memcheck --error-exitcode 1 '$native_test'"
  if [ "$(elapsed)" -lt 120 ]; then
    step 2-racecheck 50 "$OUT/2-native.log" "compute-sanitizer --tool racecheck --error-exitcode 1 '$native_test'"
  else
    skip 2-racecheck "no time left in the window ($(elapsed)s in)"
  fi
fi
step 2-junit 120 "$OUT/2-junit.log" "'$JAVA' ${jvm[*]} -jar '$console' execute --disable-banner --disable-ansi-colors \
  --details=tree --class-path '$cp' --scan-class-path '$dev/classes/runtime-test-classes' --include-tag gpu \
  --reports-dir '$work/junit'"
step 3-bench 130 "$OUT/3-bench.log" \
  "$java_cmd dev.lowbit.bench.CudaMatMulBench --short ${bench_args[*]} --out '$work/bench.json'"
step 4-logits 60 "$OUT/4-logits.log" "
  $java_cmd dev.lowbit.bench.LogitDump '$root/models/default' '$dev/heldout.txt' $tokens '$work/logits' \
    | tee '$work/lowbit-logits.json'
  python3 '$root/scripts/gpu_logits.py' '$root/models/default' '$work/logits' '$work/hf-logits.json'"

say "step 5-summary"
python3 "$root/scripts/gpu_summary.py" --work "$work" --out "$OUT/summary.json" --dry-run $dry --seconds "$(elapsed)" \
  >> "$main_log" 2>&1 || say "summary failed (see gpu-check.log)"
say "done in $(elapsed)s; results in $OUT"

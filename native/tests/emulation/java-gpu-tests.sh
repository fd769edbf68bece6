#!/usr/bin/env bash
# Runs the JUnit gpu suite (the tests tagged gpu by default; Maven arguments, e.g. -Dtest=X, replace that) on the
# host emulation of liblowbit_cuda: the Java device paths and every CUDA kernel's logic, where no
# GPU is, with a plain-loop stand-in for cublasGemmEx. Not a GPU run: see include/cuda_host.h for what
# it cannot see. Run from anywhere after ./test has built native/build.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
build="$root/native/build"
[ -f "$build/CMakeCache.txt" ] || { echo "java-gpu-tests.sh: run ./test first (it configures native/build)" >&2; exit 2; }
cmake --build "$build" --target lowbit_cuda_emulated cudart_host cublas_host cuda_driver_host -j 2
cd "$root"
. scripts/env.sh
lowbit_setup
export LOWBIT_NATIVE_DIR="$build/emulation/native" LOWBIT_CUDA_LIBS="$build/emulation/cuda"
export LD_LIBRARY_PATH="$build/emulation/cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-Dgroups=gpu)
exec "$MVN" -B -ntp install -pl bindings,runtime -Dlowbit.ctest.skip=true -Dsurefire.failIfNoSpecifiedTests=false "${args[@]}"

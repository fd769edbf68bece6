#!/usr/bin/env bash
# Regenerates the FFM bindings in src/main/java with jextract (https://jdk.java.net/jextract/),
# where it is installed: lowbit.h -> dev.lowbit.bindings.lowbit, cblas.h -> dev.lowbit.bindings.cblas.
# No --library option: the generated code looks symbols up in libraries already loaded, and
# NativeLibraries (hand-written, not generated) loads them from the jar, LOWBIT_NATIVE_DIR or the
# system. Afterwards run ./test: BindingsSymbolsTest checks the bindings against the built library.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v jextract >/dev/null || { echo "regenerate.sh: jextract is not on PATH; get it from https://jdk.java.net/jextract/" >&2; exit 2; }
out="$here/src/main/java"
cblas_header="${CBLAS_HEADER:-/usr/include/x86_64-linux-gnu/cblas.h}"
[ -f "$cblas_header" ] || cblas_header=/usr/include/cblas.h
[ -f "$cblas_header" ] || { echo "regenerate.sh: cblas.h not found; install libopenblas-dev or set CBLAS_HEADER" >&2; exit 2; }

rm -rf "$out/dev/lowbit/bindings/lowbit" "$out/dev/lowbit/bindings/cblas"
jextract --output "$out" --target-package dev.lowbit.bindings.lowbit --header-class-name lowbit_h \
  --include-function 'lb_.*' --include-struct lb_qweight --include-constant 'LB_.*' \
  "$here/../native/include/lowbit.h"
jextract --output "$out" --target-package dev.lowbit.bindings.cblas --header-class-name cblas_h \
  --include-function cblas_sgemm --include-function cblas_sgemv \
  --include-function openblas_set_num_threads --include-function openblas_get_num_threads \
  --include-function openblas_get_config --include-function openblas_get_corename \
  --include-constant 'Cblas(RowMajor|ColMajor|NoTrans|Trans|ConjTrans)' \
  "$cblas_header"
echo "regenerated bindings under $out/dev/lowbit/bindings/{lowbit,cblas}"

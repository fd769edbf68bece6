#!/usr/bin/env bash
# Regenerates the FFM bindings in src/main/java with jextract (https://jdk.java.net/jextract/),
# where it is installed: lowbit.h -> dev.lowbit.bindings.lowbit (lb_cpu_*) and .lowbit_cuda (lb_cuda_*),
# cblas.h -> dev.lowbit.bindings.cblas, lapack.h -> dev.lowbit.bindings.lapack, and where the CUDA toolkit's headers are (CUDA_HOME, default
# /usr/local/cuda) the cudart and cuBLAS subsets -> dev.lowbit.bindings.cudart and .cublas.
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

cuda_include="${CUDA_HOME:-/usr/local/cuda}/include"
[ -f "$cuda_include/cublas_api.h" ] || { echo "regenerate.sh: $cuda_include/cublas_api.h not found; set CUDA_HOME to a CUDA toolkit with cuBLAS" >&2; exit 2; }

rm -rf "$out/dev/lowbit/bindings/"{lowbit,lowbit_cuda,cblas,cudart,cublas}
jextract --output "$out" --target-package dev.lowbit.bindings.lowbit --header-class-name lowbit_h \
  --include-function 'lb_(cpu_.*|last_error|version|nop)' --include-struct lb_qweight --include-constant 'LB_.*' \
  "$here/../native/include/lowbit.h"
jextract --output "$out" --target-package dev.lowbit.bindings.lowbit_cuda --header-class-name lowbit_cuda_h \
  --include-function 'lb_cuda_.*' "$here/../native/include/lowbit.h"
jextract --output "$out" --target-package dev.lowbit.bindings.cudart --header-class-name cudart_h -I "$cuda_include" \
  $(for f in cudaGetDeviceCount cudaSetDevice cudaGetDevice cudaDeviceGetAttribute cudaMemGetInfo cudaDriverGetVersion \
      cudaRuntimeGetVersion cudaGetErrorString cudaGetErrorName cudaGetLastError cudaMalloc cudaFree cudaHostAlloc cudaFreeHost \
      cudaMemcpy cudaMemcpyAsync cudaMemsetAsync cudaStreamCreate cudaStreamDestroy cudaStreamSynchronize cudaDeviceSynchronize \
      cudaEventCreate cudaEventDestroy cudaEventRecord cudaEventSynchronize cudaEventElapsedTime; do echo --include-function $f; done) \
  --include-constant cudaSuccess --include-constant 'cudaMemcpy(HostToDevice|DeviceToHost|DeviceToDevice|Default)' \
  --include-constant cudaHostAllocDefault --include-constant 'cudaDevAttr(MultiProcessorCount|ComputeCapabilityMajor|ComputeCapabilityMinor)' \
  "$cuda_include/cuda_runtime_api.h"
jextract --output "$out" --target-package dev.lowbit.bindings.cublas --header-class-name cublas_h -I "$cuda_include" \
  $(for f in cublasCreate_v2 cublasDestroy_v2 cublasSetStream_v2 cublasGetVersion_v2 cublasSetMathMode cublasGetStatusString \
      cublasGemmEx; do echo --include-function $f; done) \
  --include-constant CUBLAS_STATUS_SUCCESS --include-constant 'CUBLAS_OP_[NT]' --include-constant 'CUDA_R_(32F|16F|16BF|8I|32I)' \
  --include-constant 'CUBLAS_COMPUTE_(32F|32I|32F_FAST_TF32)' --include-constant CUBLAS_GEMM_DEFAULT \
  "$cuda_include/cublas_api.h"
jextract --output "$out" --target-package dev.lowbit.bindings.cblas --header-class-name cblas_h \
  --include-function cblas_sgemm --include-function cblas_sgemv --include-function cblas_dgemm --include-function cblas_dsyrk \
  --include-function openblas_set_num_threads --include-function openblas_get_num_threads --include-function openblas_get_parallel \
  --include-function openblas_get_config --include-function openblas_get_corename \
  --include-constant 'Cblas(RowMajor|ColMajor|NoTrans|Trans|ConjTrans|Upper|Lower)' \
  "$cblas_header"
# LAPACK's Fortran symbols (OpenBLAS exports them; Debian's OpenBLAS ships no LAPACKE), from reference
# LAPACK's lapack.h with the hidden string lengths at the end of each call
lapack_header="${LAPACK_HEADER:-/usr/include/lapack.h}"
if [ -f "$lapack_header" ]; then
  rm -rf "$out/dev/lowbit/bindings/lapack"
  jextract --output "$out" --target-package dev.lowbit.bindings.lapack --header-class-name lapack_h \
    -D LAPACK_FORTRAN_STRLEN_END --include-function dpotrf_ --include-function dpotri_ "$lapack_header"
else
  echo "regenerate.sh: $lapack_header not found (liblapack-dev); kept the lapack bindings as they are" >&2
fi
# llama.cpp (dev.lowbit.bindings.llama) only where its headers are given (LLAMA_INCLUDE: a llama.cpp checkout's
# include/ and ggml/include/ of the release the npm package was built from); the params structs are then
# reduced by hand to the opaque form bindings/README.md explains
if [ -n "${LLAMA_INCLUDE:-}" ]; then
  rm -rf "$out/dev/lowbit/bindings/llama"
  jextract --output "$out" --target-package dev.lowbit.bindings.llama --header-class-name llama_h \
    -I "$LLAMA_INCLUDE/include" -I "$LLAMA_INCLUDE/ggml/include" \
    $(for f in ggml_backend_load_all_from_path llama_backend_init llama_model_default_params llama_model_load_from_file \
        llama_model_free llama_context_default_params llama_init_from_model llama_free llama_log_set llama_set_n_threads \
        llama_decode llama_get_logits_ith llama_get_memory llama_memory_clear llama_model_get_vocab llama_vocab_n_tokens \
        llama_tokenize llama_model_quantize_default_params llama_model_quantize ggml_get_type_traits ggml_quantize_chunk; \
      do echo --include-function $f; done) \
    --include-struct llama_batch --include-typedef ggml_log_callback "$LLAMA_INCLUDE/include/llama.h"
fi
echo "regenerated bindings under $out/dev/lowbit/bindings/{lowbit,lowbit_cuda,cblas,cudart,cublas}"

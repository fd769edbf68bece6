#!/usr/bin/env bash
# Packs what a bare GPU machine (nvcc, CMake, Python with PyTorch and transformers; no Java, no Maven, no
# network) lacks to run scripts/gpu-check.sh, into .device/ (git-ignored), for the run tool's `carry`:
#   jre.tgz    a jlinked Java runtime (the modules the runtime, the tests and the JUnit launcher load)
#   classes/   bindings, runtime (+ its tests), methods, bench and cli classes, without their native copies
#   lib/       the dependency jars those need (Jackson, picocli, JMH's core) and the JUnit console launcher
#   native/    liblowbit, liblowbit_cuda (sm_80 and sm_90: no kernel uses sm_90a features) and test_cuda_api
#   blas.tgz   OpenBLAS and the libraries it needs (lowbit's CPU path; the machine has none outside PyTorch)
#   heldout.txt  the start of the held-out novel (austen-persuasion.txt), for step 4's logits
# Run from anywhere in the project after nothing or any build; it builds what it needs (Maven, offline).
# Extends the workplace's ../shared/device/pack.sh with the native side and a size limit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/env.sh
lowbit_setup >/dev/null
out=.device
limit_mib=64

command -v nvcc >/dev/null || lowbit_die "gpu-pack.sh: nvcc not found; liblowbit_cuda cannot be built here"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$MVN" -B -q -ntp -o -pl runtime,bench,cli -am test-compile dependency:build-classpath -Dlowbit.ctest.skip=true \
  -Dmdep.outputFile="$tmp/cp.txt" -Dmdep.appendOutput=true
build=native/build
lib=$build/lib/linux-x86_64
[ -f "$lib/liblowbit_cuda.so" ] && [ -x "$build/src/cuda/test_cuda_api" ] \
  || lowbit_die "gpu-pack.sh: $build has no liblowbit_cuda.so or test_cuda_api (is LOWBIT_CUDA off in $build/CMakeCache.txt?)"
archs=$(grep -o 'code=\[[^]]*\]' "$build/src/cuda/CMakeFiles/lowbit_cuda.dir/flags.make" | tr '\n' ' ')

rm -rf "$out" && mkdir -p "$out/classes" "$out/lib" "$out/native"

# 1. The Java runtime. jdk.incubator.vector: the CPU kernels' Vector API; java.management: JUnit's launcher.
mods=java.base,java.logging,java.management,java.naming,java.sql,java.xml,jdk.unsupported,jdk.incubator.vector,jdk.zipfs
"$JAVA_HOME/bin/jlink" --add-modules "$mods" --strip-debug --no-man-pages --no-header-files --compress=zip-9 \
  --output "$tmp/jre"
tar -C "$tmp" -czf "$out/jre.tgz" jre

# 2. Classes (the bindings' packed copies of the native libraries left out: native/ holds them).
for c in bindings/target/classes runtime/target/classes runtime/target/test-classes methods/target/classes \
         bench/target/classes cli/target/classes; do
  dest="$out/classes/$(echo "$c" | cut -d/ -f1)-$(basename "$c")"
  cp -r "$c" "$dest"
done
rm -rf "$out/classes/bindings-classes/native"

# 3. Jars: only those the gpu tests, CudaMatMulBench --short, LogitDump and `lowbit info` load.
tr ':' '\n' < "$tmp/cp.txt" | grep -E '/(jackson-(core|databind|annotations)|picocli|jmh-core)-[0-9][^/]*\.jar$' | sort -u \
  | while read -r j; do cp "$j" "$out/lib/"; done
junit=$(sed -n 's:.*<junit.version>5\.\([^<]*\)</junit.version>.*:1.\1:p' pom.xml)
console=$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$junit/junit-platform-console-standalone-$junit.jar
[ -f "$console" ] || "$MVN" -B -q -ntp dependency:get -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit" >/dev/null
cp "$console" "$out/lib/"

# 4. Native: the libraries as the Maven build made them, the C test, and libgomp (liblowbit's OpenMP).
cp "$lib/liblowbit.so" "$lib/liblowbit_cuda.so" "$build/src/cuda/test_cuda_api" "$out/native/"
gomp=$(ldd "$lib/liblowbit.so" | awk '/libgomp/ {print $3}')
[ -n "$gomp" ] && cp -L "$gomp" "$out/native/"

# 5. OpenBLAS and its Fortran runtime, gzipped (36 MB as a file; gzip is on every image, xz not always).
blas=${LOWBIT_BLAS:-$(ldconfig -p | awk '/libopenblas\.so\.0 / {print $NF; exit}')}
[ -f "$blas" ] || lowbit_die "gpu-pack.sh: libopenblas.so.0 not found (install libopenblas0 or set LOWBIT_BLAS)"
mkdir -p "$tmp/blas"
cp -L "$blas" "$tmp/blas/libopenblas.so.0"
ldd "$blas" | awk '/lib(gfortran|quadmath)/ {print $3}' | while read -r d; do cp -L "$d" "$tmp/blas/"; done
tar -C "$tmp" -czf "$out/blas.tgz" blas

# 6. Held-out text for step 4.
data=${LOWBIT_DATA:-$root/../shared/data}
[ -f "$data/austen-persuasion.txt" ] || lowbit_die "gpu-pack.sh: $data/austen-persuasion.txt not found (set LOWBIT_DATA)"
head -c 20000 "$data/austen-persuasion.txt" > "$out/heldout.txt"

size=$(du -sm "$out" | cut -f1)
du -sh "$out"/*
echo "liblowbit_cuda built for $archs"
echo ".device/ is $size MiB (the run tool carries at most $limit_mib MiB)"
[ "$size" -lt "$limit_mib" ] || lowbit_die "gpu-pack.sh: .device/ is $size MiB, over the run tool's $limit_mib MiB carry limit"
echo "on the GPU machine (the run tool, carry [\".device\"]): bash scripts/gpu-check.sh"

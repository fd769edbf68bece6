#!/usr/bin/env bash
# Unpacks llama.cpp's prebuilt CPU libraries (libggml-base.so, libggml-cpu-*.so, libggml.v*.so,
# libllama.v*.so) from the npm package @node-llama-cpp/linux-x64 into DIR, for the peer benchmarks and
# the GGUF tests that load lowbit's exports in llama.cpp. Never fails the build: without npm,
# the registry or an x86-64 Linux machine it says so, and the ggml benchmarks and llama.cpp tests are
# skipped with the reason. Run by Maven (bench/, generate-resources) with DIR = bench/target/peers/ggml.
set -u
dest=${1:?usage: fetch-ggml.sh DIR}
pkg="@node-llama-cpp/linux-x64@3.22.1"
skip() { echo "fetch-ggml: $1; the ggml benchmarks and llama.cpp tests will be skipped" >&2; exit 0; }
ls "$dest"/libllama.v*.so >/dev/null 2>&1 && exit 0
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || skip "$pkg holds Linux x86-64 libraries only"
command -v npm >/dev/null 2>&1 || skip "npm not found (install Node.js and npm, then rebuild)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>"$tmp/npm.log") || skip "npm pack $pkg failed: $(tail -n 1 "$tmp/npm.log")"
tar -xzf "$tmp"/*.tgz -C "$tmp" --wildcards 'package/bins/linux-x64/libggml-base.so' 'package/bins/linux-x64/libggml-cpu-*.so' \
  'package/bins/linux-x64/libggml.v*.so' 'package/bins/linux-x64/libllama.v*.so' \
  || skip "the package has no libggml-base.so / libggml-cpu-*.so / libggml.v*.so / libllama.v*.so"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial" && mv "$tmp/package/bins/linux-x64" "$dest.partial" && rm -rf "$dest" && mv "$dest.partial" "$dest"
echo "fetch-ggml: ggml from $pkg in $dest" >&2

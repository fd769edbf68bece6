#!/usr/bin/env bash
# Aggregate decode tokens/s of the serving engine (in-process, no HTTP) at 1, 4, 8, 16 concurrent
# greedy requests, with ratios to one client's from the same run (EngineThroughput).
#
# usage: bench/engine.sh [MODEL (default: default)] [CLIENTS (1,4,8,16)] [TOKENS (64)] [RUNS (3)]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/lowbit" info >/dev/null # builds what is missing
. "$root/scripts/env.sh"
lowbit_setup
echo "# engine throughput, $(date -u +%Y-%m-%dT%H:%MZ), model ${1:-default}: $("$root/lowbit" info 2>/dev/null | sed -n 's/^CPU: *//p; s/^SIMD: *//p' | paste -sd ';' -)"
exec "$JAVA" --enable-native-access=ALL-UNNAMED -Dlowbit.home="$root" \
  -cp "$root/cli/target/lowbit-cli-0.1.0-SNAPSHOT.jar:$root/cli/target/lib/*" dev.lowbit.bench.EngineThroughput "${1:-default}" "${@:2}"

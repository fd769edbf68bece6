#!/usr/bin/env bash
# Serving load: starts ./lowbit serve on a free loopback port, runs bench's ServeLoad (closed-loop
# streaming chat clients at each concurrency level, vLLM benchmark_serving's TTFT/TPOT/ITL p50/p99,
# output tokens/s, requests/s, errors), writes bench/results/serve-DATE.json and stops the server.
# usage: bench/serve.sh [MODEL] [REQUESTS_PER_LEVEL] [MAX_TOKENS] [SECONDS_PER_LEVEL] [LEVELS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model=${1:-default} requests=${2:-64} max_tokens=${3:-64} seconds=${4:-60}
shift $(( $# < 4 ? $# : 4 )) || true
levels=("$@"); [ ${#levels[@]} -gt 0 ] || levels=(1 4 8 16)
. "$root/scripts/env.sh"; lowbit_setup
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$root/lowbit" serve --model "$model" --port "$port" --max-batch 16 --queue 256 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.5
done
out="$root/bench/results/serve-$(date -u +%Y-%m-%d)-$(basename "$model").json"
"$JAVA" -cp "$root/cli/target/lowbit-cli-0.1.0-SNAPSHOT.jar:$root/cli/target/lib/*" dev.lowbit.bench.serve.ServeLoad \
  "http://127.0.0.1:$port" "$out" "$requests" "$max_tokens" "$seconds" "${levels[@]}"
echo "serve: $(grep -m1 -o 'model .*' "$log" || true); results in $out" >&2

#!/usr/bin/env bash
# Runs the peer benchmarks (-count 6), summarises them with benchstat, and
# writes the results table into README.md. Takes about five minutes on two
# cores. Usage: bench/run.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")"
count=${1:-6}
out=results
mkdir -p "$out"
go test -run '^$' -bench . -count "$count" . | tee "$out/raw.txt"
go run golang.org/x/perf/cmd/benchstat@latest "$out/raw.txt" > "$out/benchstat.txt"
go run ./cmd/report "$out/raw.txt" README.md
echo "wrote README.md and $out/benchstat.txt"

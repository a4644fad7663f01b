#!/usr/bin/env bash
# Soak: run `grader verify` RUNS times in a row (default 20) while every core is kept busy by
# another process, to show the course's tests do not flake on a loaded machine.
# Usage: scripts/soak_verify.sh [RUNS] [EX ...]      Prints one line per run and a closing tally.
set -u
cd "$(dirname "$0")/.."
runs=${1:-20}
shift $(( $# > 0 ? 1 : 0 ))
log_dir=$(mktemp -d -t soak-verify-XXXXXX)

busy=()
for _ in $(seq "$(nproc)"); do
  python3 -c 'while True: pass' &
  busy+=($!)
done
trap 'kill "${busy[@]}" 2>/dev/null' EXIT

passed=0 failed=0
for run in $(seq "$runs"); do
  started=$(date +%s)
  if NO_COLOR=1 python3 -m grader verify "$@" >"$log_dir/run-$run.log" 2>&1; then
    passed=$((passed + 1)); verdict=passed
  else
    failed=$((failed + 1)); verdict="FAILED (see $log_dir/run-$run.log)"
  fi
  echo "run $run/$runs: $verdict in $(( $(date +%s) - started )) s"
done
echo "soak: $passed of $runs verify runs passed with $(nproc) busy cores; logs in $log_dir"
[ "$failed" -eq 0 ]

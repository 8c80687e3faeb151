#!/usr/bin/env bash
# GPU checks, run on a GPU machine from the folder `task test:cuda` fills (.device/):
# the correctness tests, compute-sanitizer on a small model, then the benchmarks.
# Logs go to $OUT (or ./out).
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-out}
mkdir -p "$out"
export AGENT_FIXTURES=$PWD/fixtures
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
timeout 240 ./cuda.test -test.v -test.run 'Test' >"$out/tests.log" 2>&1
echo "tests: exit $?"; grep -E '^(--- |ok|FAIL|PASS)' "$out/tests.log" | grep -v '^--- PASS' | head -40
timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./cuda.test \
  -test.run 'TestFixtures/tiny-4bit-128g|TestAttention/8h|TestSample|TestMatMulQuant/3bit' >"$out/sanitizer.log" 2>&1
echo "sanitizer: exit $?"; tail -3 "$out/sanitizer.log"
timeout 240 ./cuda.test -test.run '^$' -test.bench "${BENCH:-.}" -test.benchtime 10x >"$out/bench.log" 2>&1
echo "bench: exit $?"; grep -E '^Benchmark' "$out/bench.log"

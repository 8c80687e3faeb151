#!/usr/bin/env bash
# GPU checks, run on a GPU machine from the folder `task test:cuda` fills (.device/):
# the correctness tests, compute-sanitizer on a small model, then the benchmarks, and
# a short table of the benchmark lines last. Logs go to $OUT (or ./out).
#   TESTS   test filter (default: all); SANITIZE=0 skips compute-sanitizer;
#   BENCH   benchmark filter (default: all); BENCH=none skips them.
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-out}
mkdir -p "$out"
export AGENT_FIXTURES=$PWD/fixtures
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
timeout "${TEST_TIMEOUT:-240}" ./cuda.test -test.v -test.run "${TESTS:-Test}" >"$out/tests.log" 2>&1
echo "tests: exit $?"; grep -E '^(--- |ok|FAIL|PASS|panic)|relative error' "$out/tests.log" | grep -v '^--- PASS' | head -40
if [ "${SANITIZE:-1}" != 0 ]; then
  timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 ./cuda.test \
    -test.run 'TestFixtures/tiny-4bit-128g|TestAttention/8h|TestAttention/4h/4kv/64d/fast=true|TestMatMulPromptUnsplit/4bit|TestSample|TestMatMulQuant/3bit|TestMatMulQuant/4bit/g128|TestMatVecFused' >"$out/sanitizer.log" 2>&1
  echo "sanitizer: exit $?"; tail -3 "$out/sanitizer.log"
fi
if [ "${BENCH:-.}" != none ]; then
  timeout "${BENCH_TIMEOUT:-240}" ./cuda.test -test.run '^$' -test.bench "${BENCH:-.}" -test.benchtime 10x >"$out/bench.log" 2>&1
  echo "bench: exit $?"
  grep -E '^Benchmark' "$out/bench.log" | awk '{printf "%-62s", $1; for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op") printf " %10s %s", $i, $(i+1); print ""}'
fi

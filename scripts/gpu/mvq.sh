#!/usr/bin/env bash
# The candidate one-row decode kernel gptq_mvq3/gptq_mvq4 (engine/backend/cuda's
# mvQuad, off by default) against the default gptq_mv3/gptq_mv4, in one device call
# of about four minutes: the one-row tests against float64 on both kernels, the
# fixtures and random checkpoints on the candidate (AGENT_MVQ=1), compute-sanitizer's
# memcheck and racecheck on it, then the 65B one-row linears on both kernels, the
# read bandwidth, and the batch-1 decode step of the six branches (512 and 1,920 positions) on each. Logs go to
# $OUT (or ./out), a summary to stdout.
#
# Build on this side, from the repository root:
#   go test -c -tags cuda -ldflags '-s -w' -o .device/mv/cuda.test ./engine/backend/cuda
#   cp scripts/gpu/mvq.sh .device/mv/
# then on the GPU machine, from the repository root (the fixtures are the tree's):
#   .device/mv/mvq.sh
#   NCU=1 .device/mv/mvq.sh   # also ncu on the 4-bit gate/up launch of both kernels
set -uo pipefail
bin=$(dirname "$0")/cuda.test
out=${OUT:-out}
mkdir -p "$out"
export AGENT_FIXTURES=${AGENT_FIXTURES:-$PWD/internal/fixtures/testdata}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader

summary() { grep -E '^(--- FAIL|ok|FAIL|PASS|panic)|relative error|blocks per multiprocessor|GB/s' "$1" | head -"${2:-40}"; }

timeout 150 "$bin" -test.v -test.run 'TestReadBandwidth|TestMatVecOneRow|TestMatVecFused|TestMatVecShapes|TestMatVecOccupancy' >"$out/tests.log" 2>&1
echo "tests (both kernels): exit $?"; summary "$out/tests.log"
AGENT_MVQ=1 timeout 90 "$bin" -test.v -test.run 'TestFixtures|TestRandomCheckpoints' >"$out/tests-mvq.log" 2>&1
echo "fixtures and random checkpoints on gptq_mvqN: exit $?"; summary "$out/tests-mvq.log"
for tool in memcheck racecheck; do
  AGENT_MVQ=1 timeout 60 compute-sanitizer --tool $tool --error-exitcode 9 "$bin" \
    -test.run 'TestMatVecOneRow/.*/^(1056x512|2048x2080)$/^g(32|-1)$/.*/.*/.*/mvq=true|TestMatVecFused/4bit/rows=1$' >"$out/$tool.log" 2>&1
  echo "$tool: exit $?"; tail -2 "$out/$tool.log"
done

timeout 150 "$bin" -test.run '^$' -test.bench DecodeLinear -test.benchtime 10x >"$out/linear.log" 2>&1
echo "DecodeLinear: exit $?"
grep -E '^Benchmark' "$out/linear.log" | awk '{printf "%-70s", $1; for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op") printf " %10s %s", $i, $(i+1); print ""}'
for mvq in 0 1; do
  AGENT_MVQ=$mvq timeout 150 "$bin" -test.run '^$' -test.bench 'Batch/.*/decode/seqs=1$' -test.benchtime 3x >"$out/step-mvq$mvq.log" 2>&1
  echo "decode step, AGENT_MVQ=$mvq: exit $?"
  grep -E '^Benchmark' "$out/step-mvq$mvq.log" | awk '{printf "%-60s", $1; for (i = 3; i < NF; i += 2) if ($(i+1) != "ns/op") printf " %10s %s", $i, $(i+1); print ""}'
done

if [ "${NCU:-0}" = 1 ]; then
  for mvq in false true; do
    timeout 60 ncu --clock-control none --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
      -k 'regex:gptq_mvq?4$' -c 2 "$bin" -test.run '^$' -test.bench "DecodeLinear/4bit-nogroup/gate_up/mvq=$mvq$" \
      -test.benchtime 1x >"$out/ncu-mvq-$mvq.log" 2>&1
    echo "ncu mvq=$mvq: exit $?"; grep -E 'Duration|DRAM Throughput|Issued|Stall|Achieved Occupancy' "$out/ncu-mvq-$mvq.log" | head -20
  done
fi

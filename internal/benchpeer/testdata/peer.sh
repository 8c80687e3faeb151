#!/bin/sh
# A fake peer for the tests: checks that agent bench's variables are set, says
# so on standard error, and prints a line per batch size with made-up times
# (prefill 0.1 s a sequence, decode 10 ms plus 1 ms a sequence).
set -eu
: "${AGENT_BENCH_MODEL:?}" "${AGENT_BENCH_DEVICE:?}" "${AGENT_BENCH_PROMPT:?}" "${AGENT_BENCH_GEN:?}" "${AGENT_BENCH_RUNS:?}" "${AGENT_BENCH_SEQS:?}"
echo "fake peer: $AGENT_BENCH_MODEL on $AGENT_BENCH_DEVICE, seqs $AGENT_BENCH_SEQS" >&2
for n in $(echo "$AGENT_BENCH_SEQS" | tr , ' '); do
  echo
  printf '{"name":"fake","seqs":%d,"prompt_tokens":%d,"gen_tokens":%d,"prefill_s":0.%d,"decode_ms_per_token":%d}\n' \
    "$n" "$AGENT_BENCH_PROMPT" "$AGENT_BENCH_GEN" "$n" "$((10 + n))"
done

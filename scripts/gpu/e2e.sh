#!/usr/bin/env bash
# End-to-end speed of CUDA agent binaries on random 65B GPTQ checkpoints, run on a GPU
# machine from the folder `task test:cuda` fills (.device/): for each BITS:GROUP
# argument (GROUP -1 for none), write the checkpoint once with random_gptq.py, then
# `agent bench` it with each binary in BINS (default: agent), e.g. an older build
# beside the new one. JSON lines go to $OUT/bench.jsonl, a table last.
#   PROMPTS prompt lengths, each benched (default 512); GEN  decoded tokens (default 128)
#   SEQS    the batched engine's points, e.g. 4,16 (agent bench --seqs; default none)
#   PEER    a peer's benchmark command (agent bench --peer), e.g. an ExLlamaV2 script
#           that lives outside this repository
#   e2e.sh 4:128 4:-1
set -u
cd "$(dirname "$0")"
out=${OUT:-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader
for q in "$@"; do
  b=${q%:*}; g=${q#*:}
  t0=$(date +%s)
  python3 random_gptq.py --preset 65b --bits "$b" --group "$g" --out /tmp/m >/dev/null || exit 1
  echo "65b ${b}-bit group $g: written in $(( $(date +%s) - t0 )) s, $(du -sh /tmp/m | cut -f1)"
  for bin in ${BINS:-agent}; do
    for p in ${PROMPTS:-512}; do
      printf '%s %s-bit g%s prompt %s: ' "$bin" "$b" "$g" "$p"
      ./"$bin" bench --model /tmp/m --device cuda --prompt "$p" --gen "${GEN:-128}" --runs 3 --json \
        ${SEQS:+--seqs "$SEQS"} ${PEER:+--peer "$PEER"} \
        2>"$out/bench-$bin-$b-$g-$p.log" | tee -a "$out/bench.jsonl"
    done
  done
  rm -rf /tmp/m
done

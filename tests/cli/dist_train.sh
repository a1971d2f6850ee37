#!/usr/bin/env bash
# Data-parallel training over MPI (docs/distributed.md): np=1 with global batch G and np=2, np=4
# with the same G give the same losses within the fp32 tolerance; repeated runs are bit-identical;
# ZeRO 1 and 2 give the losses of ZeRO 0 and report less memory per rank; checkpoints resume at
# any np; a rank that dies ends the job with a message naming it and the last checkpoint resumes.
# Oversubscribed (4 ranks on fewer cores), one thread per rank. Skips when mpirun or the MPI build
# is missing (after checking that --zero is then a clear error).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
run_flags=(-q)
# the tests run as root in containers; Open MPI refuses that unless told
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Under ASan, allocations that Open MPI's initialization keeps until exit are not our leaks: the
# suppressions name its libraries, and the slow unwinder is needed to see them through the
# plugins it has already unloaded at exit (whose frames are otherwise "<unknown module>").
export LSAN_OPTIONS="suppressions=$here/../lsan-mpi.supp:print_suppressions=0:fast_unwind_on_malloc=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# Tolerance on losses between world sizes and ZeRO stages: 1e-4 absolute. The gradients are the
# same sums in another order (micro-batches added after the reduction instead of inside one
# accumulating matrix multiply), so they differ in the last bits of fp32; measured over 30 steps
# of tiny-gpt2 and tiny-llama the losses differ by at most 1e-6 (the last printed digit) and the
# weights by 1.2e-5. 1e-4 leaves room for the growth of these differences over more steps.
tol=1e-4

for i in $(seq 1 400); do
  echo "{\"text\": \"Line $i: the quick brown fox jumps over $((i % 7)) lazy dogs. 다람쥐 $((i % 5))마리가 헌 쳇바퀴에 타고파.\"}"
done >"$tmp/corpus.jsonl"
run 0 tokenizer train --input "$tmp/corpus.jsonl" --vocab-size 400 --special '<|endoftext|>' --output "$tmp/tok.json"
run 0 data tokenize -t "$tmp/tok.json" -o "$tmp/shards" --val-fraction 0.02 "$tmp/corpus.jsonl"
common=(--model tiny-gpt2 --data "$tmp/shards/train-00000.tok" --val-data "$tmp/shards/val-00000.tok" --seq 32
        --lr 3e-3 --warmup 2 --threads 1 --peak-gflops 100 --steps 10 --save-every 5 --eval-every 5
        --eval-batches 2 --bucket-mb 0.05)

# Without MPI, --zero is a clear error and the rest is skipped.
if ! "$bin" -q train "${common[@]}" --batch 2 --steps 1 --zero 1 --out "$tmp/probe" >"$tmp/out" 2>"$tmp/err"; then
  contains "$tmp/err" "--zero needs MPI, and this hyperlm was built without it" "--zero without MPI"
  finish dist_train || exit 1
  echo "SKIPPED: hyperlm was built without MPI"
  exit 0
fi
if ! command -v mpirun >/dev/null; then
  finish dist_train
  echo "SKIPPED: mpirun not found (apt-get install openmpi-bin)"
  exit 0
fi

# mpirun_run EXPECTED_RC NP ARGS...: like run, under mpirun -np NP.
mpirun_run() {
  local want=$1 np=$2
  shift 2
  run_via "$want" mpirun -np "$np" -- "$@"
}
# 1. one global batch of 8 sequences, three ways: np=1 (batch 2 x accum 4), np=2 (x 2), np=4 (x 1)
run 0 train "${common[@]}" --batch 2 --accum 4 --out "$tmp/n1"
mpirun_run 0 2 train "${common[@]}" --batch 2 --accum 2 --out "$tmp/n2"
mpirun_run 0 4 train "${common[@]}" --batch 2 --accum 1 --out "$tmp/n4"
checks=$((checks + 1)); [ "$(losses "$tmp/n4" | wc -l)" -eq 10 ] || fail "np=4 should log 10 steps"
close "$tmp/n1" "$tmp/n2" "np=1 vs np=2, same global batch"
close "$tmp/n1" "$tmp/n4" "np=1 vs np=4, same global batch"
contains "$tmp/n4/metrics.jsonl" '"comm_bytes"' "np=4 logs the bytes communicated"
contains "$tmp/n4/metrics.jsonl" '"val_loss"' "np=4 validates"
checks=$((checks + 1)); [ "$(ls -d "$tmp"/n4/step-* | wc -l)" -eq 2 ] || fail "np=4: one set of checkpoints, from rank 0"

# 2. the same np twice: the same bits
mpirun_run 0 2 train "${common[@]}" --batch 2 --accum 2 --out "$tmp/n2b"
losses "$tmp/n2" >"$tmp/l2"; losses "$tmp/n2b" >"$tmp/l2b"
same "$tmp/l2" "$tmp/l2b" "np=2 twice: losses"
same "$tmp/n2/step-00000010/model.safetensors" "$tmp/n2b/step-00000010/model.safetensors" "np=2 twice: weights"
same "$tmp/n2/step-00000010/optimizer.safetensors" "$tmp/n2b/step-00000010/optimizer.safetensors" "np=2 twice: optimizer"

# 3. ZeRO 1 and 2 at np=4 (and 2 with accumulation at np=2): the losses of ZeRO 0
mpirun_run 0 4 train "${common[@]}" --batch 2 --zero 0 --out "$tmp/z0"
mpirun_run 0 4 train "${common[@]}" --batch 2 --zero 1 --out "$tmp/z1"
mpirun_run 0 4 train "${common[@]}" --batch 2 --zero 2 --out "$tmp/z2"
mpirun_run 0 2 train "${common[@]}" --batch 2 --accum 2 --zero 2 --out "$tmp/z2a"
# z0 is n4's command again: the same bits at np=4 too
losses "$tmp/n4" >"$tmp/l4"; losses "$tmp/z0" >"$tmp/l4b"
same "$tmp/l4" "$tmp/l4b" "np=4 twice: losses"
same "$tmp/n4/step-00000010/model.safetensors" "$tmp/z0/step-00000010/model.safetensors" "np=4 twice: weights"
close "$tmp/z0" "$tmp/z1" "ZeRO-1 vs ZeRO-0"
close "$tmp/z0" "$tmp/z2" "ZeRO-2 vs ZeRO-0"
close "$tmp/n1" "$tmp/z2a" "ZeRO-2 with accumulation vs np=1"

# 3b. memory per rank falls as the ZeRO paper says, on 8 layers (stage 2's bucket buffers hold
#     a few layers, not the whole gradient array): one step each, the report is an info line
cat >"$tmp/deep.json" <<'JSON'
{"model_type": "gpt2", "vocab_size": 512, "n_positions": 64, "n_embd": 64, "n_layer": 8, "n_head": 4}
JSON
run_flags=()
for z in 0 1 2; do
  mpirun_run 0 4 train "${common[@]}" --model "$tmp/deep.json" --steps 1 --batch 1 --zero $z --out "$tmp/m$z" &&
    grep 'memory per rank' "$tmp/err" >"$tmp/mem$z"
done
run_flags=(-q)
checks=$((checks + 1)); [ "$(grep -c 'memory per rank' "$tmp/mem0")" -eq 1 ] || fail "only rank 0 logs"
# the paper's model states per rank: 16 psi, 8 psi + 8 psi / 4, 4 psi + 12 psi / 4 bytes
field() { grep -o "$2 [0-9.]*" "$1" | grep -o '[0-9.]*$'; }
checks=$((checks + 1))
awk -v a="$(field "$tmp/mem0" 'ZeRO paper:')" -v b="$(field "$tmp/mem1" 'ZeRO paper:')" -v c="$(field "$tmp/mem2" 'ZeRO paper:')" \
  'BEGIN { exit !(a > 0 && b / a > 0.62 && b / a < 0.63 && c / a > 0.43 && c / a < 0.44) }' ||
  fail "ZeRO paper memory should be 16 : 10 : 7 bytes per parameter at np=4: $(cat "$tmp/mem0" "$tmp/mem1" "$tmp/mem2")"
checks=$((checks + 1))
awk -v a="$(field "$tmp/mem0" 'AdamW m+v')" -v b="$(field "$tmp/mem1" 'AdamW m+v')" -v c="$(field "$tmp/mem2" 'AdamW m+v')" \
  'BEGIN { exit !(a > 0 && b < a * 0.26 && c < a * 0.26) }' || fail "AdamW state should fall to 1/4 per rank under ZeRO 1 and 2"
checks=$((checks + 1))
awk -v a="$(field "$tmp/mem0" 'total')" -v b="$(field "$tmp/mem1" 'total')" -v c="$(field "$tmp/mem2" 'total')" \
  'BEGIN { exit !(a > b && b > c) }' || fail "memory per rank should fall from ZeRO 0 to 1 to 2: $(cat "$tmp/mem0" "$tmp/mem1" "$tmp/mem2")"

# 4. checkpoints do not depend on np: step 5 of np=4 (ZeRO 1, sharded optimizer) resumed at np=2
#    and np=1, and step 5 of np=1 resumed at np=2, continue as the uninterrupted runs
mpirun_run 0 2 train --resume "$tmp/z1/step-00000005" --out "$tmp/r42"
run 0 train --resume "$tmp/z1/step-00000005" --out "$tmp/r41"
mpirun_run 0 2 train --resume "$tmp/n1/step-00000005" --zero 2 --out "$tmp/r12"
for r in r42 r41 r12; do
  checks=$((checks + 1)); [ "$(losses "$tmp/$r" | wc -l)" -eq 5 ] || fail "$r: steps 6..10 expected"
done
tail5() { mkdir -p "$tmp/t_$1"; grep '"loss"' "$tmp/$1/metrics.jsonl" | tail -5 >"$tmp/t_$1/metrics.jsonl"; }
tail5 z1; tail5 n1
close "$tmp/t_z1" "$tmp/r42" "np=4 checkpoint resumed at np=2"
close "$tmp/t_z1" "$tmp/r41" "np=4 checkpoint resumed at np=1"
close "$tmp/t_n1" "$tmp/r12" "np=1 checkpoint resumed at np=2 (ZeRO 2)"

# 5. a rank that dies ends the job with a message naming it; the last checkpoint resumes, and at
#    the same np the resumed run has the bits of the uninterrupted one
checks=$((checks + 1))
HLM_TEST_DIE_AT_STEP=7 mpirun -np 2 "$bin" -q train "${common[@]}" --batch 2 --accum 2 --out "$tmp/die" >"$tmp/out" 2>"$tmp/err"
[ $? -ne 0 ] || fail "a job with a dead rank should fail"
contains "$tmp/err" "rank 1" "the dead rank is named"
contains "$tmp/die/latest" "step-00000005" "the last checkpoint before the death"
# a rank that hangs (stopped): the others give up after HLM_COMM_TIMEOUT_S and end the job
checks=$((checks + 1))
HLM_COMM_TIMEOUT_S=3 HLM_TEST_DIE_AT_STEP=3 HLM_TEST_DIE_HOW=stop timeout 120 mpirun -np 2 "$bin" -q train "${common[@]}" \
  --batch 2 --accum 2 --out "$tmp/hang" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a job with a hung rank should fail by itself (exit $rc)"
contains "$tmp/err" "made no progress for 3 s: a peer process has died or hangs" "the hung rank is reported"
mpirun_run 0 2 train --resume "$tmp/die"
losses "$tmp/die" >"$tmp/ld"
same "$tmp/l2" "$tmp/ld" "died at step 7, resumed from step 5 at np=2"
same "$tmp/n2/step-00000010/model.safetensors" "$tmp/die/step-00000010/model.safetensors" "resumed weights"

# 6. errors
run 2 train "${common[@]}" --batch 2 --zero 3 --out "$tmp/e1"
contains "$tmp/err" "--zero: expected 0, 1 or 2" "--zero 3"
run 2 train "${common[@]}" --batch 2 --bucket-mb 0 --out "$tmp/e2"
contains "$tmp/err" "--bucket-mb" "--bucket-mb 0"
# srun's environment says 2 tasks but no launcher connects them: a clear error, not a hang
SLURM_STEP_NUM_TASKS=2 SLURM_PROCID=0 run 2 train "${common[@]}" --batch 2 --out "$tmp/e3"
contains "$tmp/err" "srun started 2 processes but MPI sees a world of 1" "srun without PMI"
# a global batch that the new np cannot split
mpirun_run 2 4 train --resume "$tmp/n1/step-00000005" --batch 4 --out "$tmp/e4"
contains "$tmp/err" "cannot be split over 4 processes" "resume with an indivisible global batch"

finish dist_train

#!/usr/bin/env bash
# Under a real Slurm (docs/distributed.md): a private one-node cluster (munged, slurmctld,
# slurmd from Debian's slurm-wlm, installed by scripts/install-test-deps.sh; configured in a
# temporary folder, on ports 6917-6918 or HLM_SLURM_PORT, stopped at the end) runs hyperlm with
# srun and sbatch. Skips without Slurm, without root (the daemons need it) or without MPI in the
# build. Checks:
#   - srun -n 2 --mpi=pmix train gives the bits of mpirun -np 2 (losses, weights), with ZeRO 2;
#   - a checkpoint of srun -n 2 resumes under srun -n 1 and continues as np=1 would;
#   - a rank that dies under srun ends the step with a message naming it, and the last
#     checkpoint resumes under srun to the uninterrupted run's bits;
#   - srun with a PMI plugin this MPI cannot use is a clear error, not N worlds of 1;
#   - sbatch with srun inside, the same losses;
#   - srun -n 2 data prepare keeps the documents of one run.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.bash"
run_flags=(-q)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's allocations kept until exit are not our leaks (as in dist_train.sh)
export LSAN_OPTIONS="suppressions=$here/../lsan-mpi.supp:print_suppressions=0:fast_unwind_on_malloc=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

for t in munged slurmctld slurmd srun sbatch scontrol; do
  if ! command -v "$t" >/dev/null; then
    echo "SKIPPED: $t not found (make test-slurm installs slurm-wlm and munge)"
    exit 0
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: a private Slurm cluster needs root (munged and slurmd)"
  exit 0
fi

# ---- the cluster ----
sl=$tmp/slurm
mkdir -p "$sl/spool" "$sl/state" "$sl/log"
node=$(hostname)
cat >"$sl/slurm.conf" <<EOF
ClusterName=hyperlm-test
SlurmctldHost=$node
SlurmctldPort=${HLM_SLURM_PORT:-6917}
SlurmdPort=$((${HLM_SLURM_PORT:-6917} + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmctldPidFile=$sl/slurmctld.pid
SlurmdPidFile=$sl/slurmd.pid
SlurmdSpoolDir=$sl/spool
StateSaveLocation=$sl/state
SlurmctldLogFile=$sl/log/slurmctld.log
SlurmdLogFile=$sl/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
export SLURM_CONF=$sl/slurm.conf
started_munge=0
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null
  [ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge && dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 2>/dev/null &&
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key; }
  su -s /bin/sh munge -c /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
  started_munge=1
fi
stop_cluster() { # and wait for the daemons to be gone, so that the next run finds the ports free
  local pids=() f
  for f in "$sl/slurmd.pid" "$sl/slurmctld.pid"; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
  [ "$started_munge" -eq 1 ] && pids+=($(pgrep -x munged))
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null
  local p alive
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.2
  done
  rm -rf "$tmp"
}
trap stop_cluster EXIT
[ -n "${HLM_SLURM_KEEP:-}" ] && trap - EXIT
slurmctld && slurmd || { echo "FAIL: the Slurm daemons did not start"; cat "$sl"/log/*.log 2>/dev/null | tail -20; exit 1; }
for _ in $(seq 1 30); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 1
done
if ! sinfo -h -o %T | grep -qx idle; then
  echo "FAIL: the node did not come up"; sinfo; tail -20 "$sl"/log/*.log; exit 1
fi

# srun_run EXPECTED_RC SRUN_ARGS... -- HYPERLM_ARGS...: like run, under srun.
srun_run() {
  local want=$1
  shift
  run_via "$want" timeout 300 srun "$@"
}

tol=1e-4 # losses between world sizes, as in dist_train.sh

# ---- training ----
tiny_corpus
run 0 tokenizer train --input "$tmp/corpus.jsonl" --vocab-size 300 --special '<|endoftext|>' --output "$tmp/tok.json"
run 0 data tokenize -t "$tmp/tok.json" -o "$tmp/shards" --val-fraction 0.05 "$tmp/corpus.jsonl"
common=(--model tiny-gpt2 --data "$tmp/shards/train-00000.tok" --seq 32 --lr 3e-3 --warmup 2 --threads 1
        --peak-gflops 100 --steps 8 --save-every 4 --bucket-mb 0.05)
if ! "$bin" -q train "${common[@]}" --batch 2 --steps 1 --zero 1 --out "$tmp/probe" >"$tmp/out" 2>"$tmp/err"; then
  if grep -qF "built without" "$tmp/err"; then
    echo "SKIPPED: hyperlm was built without MPI"
    exit 0
  fi
fi

# 1. srun and mpirun, 2 processes, ZeRO 2: the same bits
srun_run 0 -n 2 --mpi=pmix -- train "${common[@]}" --batch 2 --accum 2 --zero 2 --out "$tmp/s2"
checks=$((checks + 1))
mpirun -np 2 "$bin" -q train "${common[@]}" --batch 2 --accum 2 --zero 2 --out "$tmp/m2" >"$tmp/out" 2>"$tmp/err" ||
  fail "mpirun -np 2 train"
losses "$tmp/s2" >"$tmp/ls2"; losses "$tmp/m2" >"$tmp/lm2"
checks=$((checks + 1)); [ "$(wc -l <"$tmp/ls2")" -eq 8 ] || fail "srun -n 2: 8 steps expected"
same "$tmp/ls2" "$tmp/lm2" "srun -n 2 vs mpirun -np 2: losses"
same "$tmp/s2/step-00000008/model.safetensors" "$tmp/m2/step-00000008/model.safetensors" "srun vs mpirun: weights"
checks=$((checks + 1)); [ "$(ls -d "$tmp"/s2/step-* | wc -l)" -eq 2 ] || fail "srun: one set of checkpoints, from rank 0"

# 2. the srun -n 2 checkpoint at step 4 resumed by srun -n 1 continues as np=1 from there
run 0 train "${common[@]}" --batch 2 --accum 4 --out "$tmp/one"
srun_run 0 -n 1 --mpi=pmix -- train --resume "$tmp/s2/step-00000004" --out "$tmp/r1"
mkdir -p "$tmp/one_tail"
grep '"loss"' "$tmp/one/metrics.jsonl" | tail -4 >"$tmp/one_tail/metrics.jsonl"
close "$tmp/one_tail" "$tmp/r1" "srun -n 2 checkpoint resumed by srun -n 1"

# 3. a rank that dies: the step ends with its name, the last checkpoint resumes to the same bits
checks=$((checks + 1))
HLM_TEST_DIE_AT_STEP=6 timeout 300 srun -n 2 --mpi=pmix --kill-on-bad-exit=1 "$bin" -q train "${common[@]}" \
  --batch 2 --accum 2 --zero 2 --out "$tmp/die" >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "srun: a step with a dead rank should fail by itself (exit $rc)"
# Slurm's PMIx plugin cancels the whole step as soon as a task dies, before the survivors' own
# deadline can fire: the name comes from srun
contains "$tmp/err" "task 1: Killed" "srun: the dead task is named"
contains "$tmp/die/latest" "step-00000004" "srun: the last checkpoint before the death"
srun_run 0 -n 2 --mpi=pmix -- train --resume "$tmp/die"
losses "$tmp/die" >"$tmp/ld"
same "$tmp/ls2" "$tmp/ld" "srun: died at step 6, resumed from step 4"

# 4. no PMI this MPI can use (Debian's Open MPI has PMIx, not Slurm's PMI-1 or PMI-2): a clear
#    error and a non-zero exit, not N worlds of 1. Open MPI catches it itself ("direct launched
#    using srun ... PMI support"); an MPI that starts singletons instead meets our own check
#    ("srun started N processes but MPI sees a world of 1", tests/cli/dist_train.sh).
for m in none pmi2; do
  checks=$((checks + 1))
  timeout 120 srun -n 2 --mpi=$m "$bin" -q train "${common[@]}" --batch 2 --out "$tmp/nopmi" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "srun --mpi=$m: should fail by itself (exit $rc)"
  checks=$((checks + 1))
  grep -qE "PMI support|MPI sees a world of 1" "$tmp/err" || fail "srun --mpi=$m: the missing PMI should be named"
  absent "$tmp/nopmi/step-00000004" "srun --mpi=$m"
done

# 5. sbatch with srun inside: the batch environment, the same losses
cat >"$tmp/job.sh" <<EOF
#!/bin/bash
srun --mpi=pmix "$bin" -q train ${common[*]} --batch 2 --accum 2 --zero 2 --out "$tmp/b2"
EOF
checks=$((checks + 1))
timeout 300 sbatch --wait -n 2 -o "$tmp/job.out" "$tmp/job.sh" >/dev/null 2>"$tmp/err" || {
  fail "sbatch --wait -n 2"; cat "$tmp/job.out" "$tmp/err" 2>/dev/null | head -8; }
losses "$tmp/b2" >"$tmp/lb2" 2>/dev/null
same "$tmp/ls2" "$tmp/lb2" "sbatch + srun vs srun: losses"

# 6. data prepare: srun -n 2 keeps the documents of one run (exact and near copies across the
#    two parts, so that the ranks' exchange decides something)
python3 - "$tmp/docs.jsonl" <<'EOF'
import json, random, sys
rng = random.Random(11)
words = ("the of and to in is that for it with as was on be by this are from or have an they which one "
         "you were all we there would their what so up out if about who get when make can like time no "
         "just know take people into year good some could them see other than then now look only come "
         "over think also back after use two how our work first well way even new want because").split()
def doc():
    return "\n".join(" ".join(" ".join(rng.choice(words) for _ in range(rng.randint(8, 14))).capitalize() + "."
                              for _ in range(3)) for _ in range(4))
docs = [doc() for _ in range(80)]
docs += [docs[i] for i in range(0, 80, 8)]                                # exact copies
docs += [docs[i].replace(" the ", " a ", 1) for i in range(3, 80, 8)]   # near copies
with open(sys.argv[1], "w") as f:
    for i, t in enumerate(docs):
        f.write(json.dumps({"id": f"d{i}", "text": t, "source": "t"}) + "\n")
EOF
echo '{"filters": {"default": {"c4_min_sentences": 0}}}' >"$tmp/prep.json"
run 0 data prepare --input "$tmp/docs.jsonl" --output "$tmp/p1" --config "$tmp/prep.json" --threads 1
srun_run 0 -n 2 --mpi=pmix -- data prepare --input "$tmp/docs.jsonl" --output "$tmp/p2" --config "$tmp/prep.json" \
  --threads 1
kept() { for f in "$1"/docs/*.jsonl.zst; do zstd -dcq "$f"; done | sort; }
kept "$tmp/p1" >"$tmp/k1"; kept "$tmp/p2" >"$tmp/k2"
checks=$((checks + 1))
n1=$(wc -l <"$tmp/k1")
[ "$n1" -gt 40 ] && [ "$n1" -lt 100 ] || fail "data prepare: $n1 documents kept of 100 (copies should go)"
same "$tmp/k1" "$tmp/k2" "srun -n 2 data prepare vs one run: kept documents"

finish slurm

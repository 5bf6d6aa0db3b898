#!/bin/bash
# duet-train --parallel under mpirun: every strategy's (dp, fsdp, tp, pp)
# 20 training losses, validation losses and final checkpoint weights equal
# the single-process run with the same global batch (losses within 1e-4
# relative), on 2, 3 and 4 ranks and on dp=2,tp=2, dp=2,pp=2 and
# fsdp=2,tp=2 meshes, and a Qwen2-style model (q/k/v biases) under tp and
# fsdp; bad --parallel values and rank counts or shapes that
# do not fit are refused on every rank with a message.
set -u
BIN="${DUET_BIN:?}/duet-train"
TMP=$(mktemp -d /tmp/duet-parallel.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(timeout 120 mpirun --oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

/usr/bin/python3 - "$TMP/data.txt" <<'PY'
import random, sys
r = random.Random(42)
w = "the lord said unto him and it was so in the beginning god created heaven earth light darkness day night".split()
with open(sys.argv[1], "w") as f:
    for i in range(800):
        f.write(" ".join(r.choice(w) for _ in range(4 + i % 7)) + ".\n")
PY

# compare DIR_A DIR_B: training and validation losses (train_state
# metadata) within 1e-4 relative, weights within 1e-4 absolute; prints the
# measured differences.
compare() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import array, json, struct, sys
def st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]
def losses(d):
    log = st(d + "/train_state.safetensors")[0]["__metadata__"]["loss_log"]
    return [float(v) for e in log.split(";") if e for v in e.split(",") if v != "nan"]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
rel = max(abs(x - y) / abs(x) for x, y in zip(a, b)) if a and len(a) == len(b) else float("inf")
(ha, ba), (hb, bb) = st(sys.argv[1] + "/model.safetensors"), st(sys.argv[2] + "/model.safetensors")
dw = 0.0
for k, v in ha.items():
    if k == "__metadata__": continue
    x = array.array("f", ba[v["data_offsets"][0]:v["data_offsets"][1]])
    y = array.array("f", bb[hb[k]["data_offsets"][0]:hb[k]["data_offsets"][1]])
    dw = max([dw] + [abs(p - q) for p, q in zip(x, y)]) if len(x) == len(y) else float("inf")
print("%s: %d losses, max relative loss difference %.2e, max weight difference %.2e" % (sys.argv[2].split("/")[-1], len(b), rel, dw))
sys.exit(0 if rel <= 1e-4 and dw <= 1e-4 else 1)
PY
}

COMMON=(--data "$TMP/data.txt" --tokenizer fixtures/train/tok --steps 20 --batch 8 --seq 32 --lr 1e-2 --warmup 2
        --eval-every 5 --eval-windows 4 --quiet)
GQA=(--dim 32 --layers 2 --heads 4 --kv-heads 2 --hidden 64)
MHA=(--dim 32 --layers 2 --heads 4 --kv-heads 4 --hidden 64 --tied --qk-norm)
DEEP=(--dim 32 --layers 4 --heads 4 --kv-heads 2 --hidden 64 --tied)
QWEN2=(--dim 32 --layers 2 --heads 4 --kv-heads 2 --hidden 64 --tied --qkv-bias) # q/k/v biases, split by tp

timeout 120 "$BIN" "${COMMON[@]}" "${GQA[@]}" --out "$TMP/gqa" && ok || bad "single-process run (GQA)"
timeout 120 "$BIN" "${COMMON[@]}" "${MHA[@]}" --out "$TMP/mha" && ok || bad "single-process run (MHA)"
timeout 120 "$BIN" "${COMMON[@]}" "${DEEP[@]}" --out "$TMP/deep" && ok || bad "single-process run (4 layers)"
timeout 120 "$BIN" "${COMMON[@]}" "${QWEN2[@]}" --out "$TMP/qwen2" && ok || bad "single-process run (Qwen2 biases)"
timeout 60 "${DUET_BIN}/duet-generate" --model "$TMP/qwen2" --prompt-ids 1,2,3 -n 4 >/dev/null 2>&1 && ok ||
  bad "the trained Qwen2-style checkpoint does not load for generation"

# run NP MODE SHAPE-NAME [EXTRA FLAGS...]
run() {
  local np=$1 mode=$2 shape=$3 out="$TMP/$3-np$1-${2//[=,]/_}" flags
  shift 3
  case $shape in gqa*) flags=("${GQA[@]}") ;; mha) flags=("${MHA[@]}") ;; qwen2) flags=("${QWEN2[@]}") ;; *) flags=("${DEEP[@]}") ;; esac
  if "${MPIRUN[@]}" -np "$np" "$BIN" "${COMMON[@]}" "${flags[@]}" "$@" --parallel "$mode" --out "$out" > "$out.log" 2>&1; then
    compare "$TMP/$shape" "$out" && ok || bad "$mode on $np ranks ($shape) differs from the single-process run"
  else
    bad "$mode on $np ranks ($shape) failed: $(tail -5 "$out.log")"
  fi
}
for mode in dp fsdp tp; do run 2 "$mode" gqa; done
for mode in tp fsdp; do run 2 "$mode" qwen2; done
for mode in dp fsdp tp; do run 4 "$mode" mha; done
run 2 tp mha
run 2 pp gqa
run 2 pp,mb=2 mha
run 4 dp=2,tp=2 mha
run 4 dp=2,tp=2 gqa
run 4 dp=2,pp=2 gqa
run 4 fsdp=2,tp=2 mha
run 4 pp,mb=8 deep
# 35296 parameters on 3 ranks: the flat buffers are padded to 3 x 11766
timeout 120 "$BIN" "${COMMON[@]}" "${GQA[@]}" --batch 6 --out "$TMP/gqa6" && ok || bad "single-process run (batch 6)"
run 3 fsdp gqa6 --batch 6

# One rank prints: a 4-rank mesh run shows one progress summary.
LOUD=()
for a in "${COMMON[@]}"; do [ "$a" != --quiet ] && LOUD+=("$a"); done
out=$("${MPIRUN[@]}" -np 4 "$BIN" "${LOUD[@]}" "${MHA[@]}" --steps 4 --parallel dp=2,tp=2 --out "$TMP/loud" 2>&1)
n=$(grep -c "^done: 4 steps" <<< "$(tr '\r' '\n' <<< "$out")")
[ "$n" = 1 ] && ok || bad "progress summary printed $n times (want 1): $out"

# Checkpoints hold the whole model, optimizer state and global batch: runs
# stopped at step 10 resume under another layout (single process, or the
# state sharded again) and end as the uninterrupted run.
resume_check() { # NAME MODE-OF-FIRST-HALF MODE-OF-SECOND-HALF ("" = single process)
  local out="$TMP/resume-$1" half
  for half in 1 2; do
    local mode=$2 args=("${COMMON[@]}" "${GQA[@]}" --out "$out" --stop-after 10)
    [ $half = 2 ] && mode=$3 args=(--resume "$out" --data "$TMP/data.txt" --quiet)
    if [ -n "$mode" ]; then
      "${MPIRUN[@]}" -np 2 "$BIN" "${args[@]}" --parallel "$mode" > "$out.log" 2>&1
    else
      timeout 120 "$BIN" "${args[@]}" > "$out.log" 2>&1
    fi || { bad "resume $1 half $half failed: $(tail -5 "$out.log")"; return; }
  done
  compare "$TMP/gqa" "$out" && ok || bad "resume $1 differs from the uninterrupted run"
}
resume_check tp-then-single tp ""
resume_check single-then-pp "" pp
resume_check dp-then-single dp ""
resume_check fsdp-then-tp fsdp tp

# expect_refusal NP WANT ARGS...: non-zero status, the message on every rank
expect_refusal() {
  local np=$1 want=$2; shift 2
  out=$("${MPIRUN[@]}" -np "$np" "$BIN" "${COMMON[@]}" --out "$TMP/refused" "$@" 2>&1); rc=$?
  n=$(grep -c -- "$want" <<< "$out")
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$n" -ge "$np" ] && ok ||
    bad "--parallel refusal on $np ranks ($*): rc $rc, '$want' seen $n times in: $out"
}
expect_refusal 2 'unknown axis "xp"' "${GQA[@]}" --parallel xp
expect_refusal 2 "needs 4 ranks, the job has 2" "${GQA[@]}" --parallel dp=2,tp=2
expect_refusal 2 "more than one data axis" "${GQA[@]}" --parallel dp,fsdp
expect_refusal 3 "must all be multiples of 3" "${GQA[@]}" --parallel tp
expect_refusal 2 "must all be multiples of 2" --dim 32 --layers 2 --heads 4 --kv-heads 1 --hidden 64 --parallel tp
expect_refusal 3 "multiple of the 3 data-parallel ranks" "${GQA[@]}" --parallel dp
expect_refusal 2 "positive size" "${GQA[@]}" --parallel dp=0
expect_refusal 3 "the model has only 2 layers" "${GQA[@]}" --parallel pp
expect_refusal 2 "do not divide the 8 windows" "${GQA[@]}" --parallel pp,mb=3
expect_refusal 2 "fsdp does not combine with pp" "${GQA[@]}" --parallel fsdp,pp=1
[ ! -e "$TMP/refused" ] && ok || bad "a refused run created its --out directory"

# An error inside training ends the whole job (MPI_Abort), not one rank
# with the others waiting in a collective.
out=$("${MPIRUN[@]}" -np 2 "$BIN" --data "$TMP/missing.txt" --tokenizer fixtures/train/tok "${GQA[@]}" \
      --out "$TMP/missing" --parallel tp 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && [[ "$out" == *"missing.txt: No such file"* ]] && ok ||
  bad "failing run: rc $rc, output: $out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

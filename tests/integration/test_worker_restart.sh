#!/usr/bin/env bash
# The supervised backend when the MPI job dies: duet-idclient starts the job
# through the backend (as duetd does), SIGKILLs its mpirun and ranks right
# after submitting, and checks that every in-flight request got exactly one finish
# with an error, that the backend reported not-ready, restarted the job and
# became ready again; the prompts, submitted again, must then give
# duet-generate's greedy tokens.
set -euo pipefail
: "${DUET_BIN:?}" "${DUET_SRC:?}"
MODEL="$DUET_SRC/tests/fixtures/models/llama_gqa_tied"
N=40
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "FAIL: $*" >&2; exit 1; }

printf '5,6,7,8\n9,10,11\n40,41,42,43,44,45,46,47,48,49,50\n100\n' > "$work/prompts"
i=0
: > "$work/expected"
while read -r ids; do
  out=$(timeout 30 "$DUET_BIN/duet-generate" --model "$MODEL" --prompt-ids "$ids" -n $N --ignore-eos 2>/dev/null | head -1)
  echo "R$i $out" >> "$work/expected"
  i=$((i + 1))
done < "$work/prompts"

timeout 120 "$DUET_BIN/duet-idclient" --model "$MODEL" --worker-bin "$DUET_BIN/duet-worker" --prefill 1 --decode 1 \
  --prompts "$work/prompts" -n $N --ignore-eos --kill-job --timeout 100 > "$work/out" 2> "$work/err" \
  || { cat "$work/err" >&2; fail "duet-idclient --kill-job failed"; }
grep -q "killed the worker job ([1-9][0-9]* processes)" "$work/err" || fail "the job was not killed"
grep -q "workers down" "$work/err" || fail "not-ready was not reported"
grep -q "workers back; submitting again" "$work/err" || fail "the job did not come back"
awk '{print $1, $3}' "$work/out" > "$work/got"
diff -u "$work/expected" "$work/got" || fail "generations after the restart differ from duet-generate"
echo "ok: job killed with requests in flight, requests failed, restarted, identical generations after"
echo "1 passed, 0 failed"

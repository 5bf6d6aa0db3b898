#!/bin/bash
# The cluster's multi-host path without Docker: three "hosts" (network
# namespaces joined by a bridge in a namespace of its own, addresses only
# inside them), duetd in host 0 starting the MPI job across all three with
# mpirun (an rsh agent running `ip netns exec` in place of ssh, the TCP
# BTL): the coordinator on host 0, the prefill rank on host 1, the decode
# rank on host 2, so the KV cache crosses a (virtual) network. Checks: the
# ranks really run on the other hosts, completions through duetd equal
# duet-generate's greedy ids token for token (logprob tokens as ids), and the job is gone after
# duetd drains.
. "$(dirname "$0")/http_lib.sh"
NET=dmh$$
CLUSTER="$SRC/deploy/netns-cluster.sh"
on_host() { local i=$1; shift; bash "$CLUSTER" exec "$NET" "$i" "$@"; }
teardown() { bash "$CLUSTER" down "$NET" 2>/dev/null; cleanup; }
trap teardown EXIT

bash "$CLUSTER" up "$NET" 3 || { echo "FAIL: cannot create namespaces"; exit 1; }
make_model "$TMP/model" llama_gqa_tied
printf '10.213.7.1 slots=1\n10.213.7.2 slots=1\n10.213.7.3 slots=1\n' > "$TMP/hostfile"

# What MACHINE-NOTES.md says these runs need: the agent instead of ssh,
# out-of-band and BTL traffic on the namespaces' subnet, and yielding when
# idle (else messages between namespaces take milliseconds).
# Started as a plain command (not through the on_host function) so that the
# exec chain (ip netns exec, unshare, sh) ends in duetd with this PID.
bash "$CLUSTER" exec "$NET" 0 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_plm_rsh_agent="$(bash "$CLUSTER" agent-path "$NET")" \
  OMPI_MCA_oob_tcp_if_include=10.213.7.0/24 OMPI_MCA_btl=self,tcp \
  OMPI_MCA_btl_tcp_if_include=eth0 OMPI_MCA_mpi_yield_when_idle=1 \
  "$BIN/duetd" --model "$TMP/model" --port 8000 --prefill 1 --decode 1 \
  --hostfile "$TMP/hostfile" --worker-bin "$BIN/duet-worker" > "$TMP/duetd.log" 2>&1 &
DPID=$!
PIDS="$PIDS $DPID"
ready=0
for _ in $(seq 300); do
  [ "$(on_host 0 curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:8000/health)" = 200 ] && { ready=1; break; }
  kill -0 "$DPID" 2>/dev/null || break
  sleep 0.2
done
[ $ready = 1 ] && ok "duetd ready with its job across 3 hosts" || { cat "$TMP/duetd.log"; bad "cluster did not come up"; finish; exit 1; }

for i in 1 2; do
  if ip netns pids "$NET-h$i" | xargs -r -n1 sh -c 'cat /proc/$0/cmdline 2>/dev/null | tr "\0" " "; echo' | grep -q duet-worker; then
    ok "a duet-worker rank runs on host $i"
  else
    bad "no duet-worker rank on host $i"
  fi
done

prompts=("5,17,99,3" "200,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20" "42")
for ids in "${prompts[@]}"; do
  want=$(timeout 30 "$BIN/duet-generate" --model "$TMP/model" --prompt-ids "$ids" -n 16 --ignore-eos 2>/dev/null | head -1)
  got=$(on_host 0 curl -s --max-time 30 http://127.0.0.1:8000/v1/completions -H 'content-type: application/json' \
    -d "{\"prompt\":[$ids],\"max_tokens\":16,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0,\"return_tokens_as_token_ids\":true}" |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
print(",".join(t.split(":")[1] for t in r["choices"][0]["logprobs"]["tokens"]))' 2>/dev/null)
  [ -n "$want" ] && [ "$got" = "$want" ] && ok "prompt [$ids] identical to duet-generate" ||
    bad "prompt [$ids]: cluster '$got' vs duet-generate '$want'"
done

kill -TERM "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
wait "$DPID"
rc=$?
left=$(for i in 0 1 2; do ip netns pids "$NET-h$i"; done | xargs -r -n1 sh -c 'cat /proc/$0/cmdline 2>/dev/null | tr "\0" " "; echo' | grep -c "duet-worker\|orted\|mpirun")
[ "$rc" = 0 ] && [ "$left" = 0 ] && ok "SIGTERM drains duetd and the whole job" || { tail -5 "$TMP/duetd.log"; bad "drain (rc $rc, $left job processes left)"; }
finish

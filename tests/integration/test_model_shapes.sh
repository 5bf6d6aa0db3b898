# A model shaped off the usual multiples, served: llama_tp_odd (q width 72
# != dim 48, head_dim 12, group 3, hidden 70, vocab 261) gives PyTorch's
# greedy tokens through duetd in-process, through its worker job and
# through tensor-parallel ranks (per rank: 3 q heads over 1 kv head, 35
# hidden units); prompts of 1, 16 and 32 tokens (whole KV blocks) match
# duet-generate. Models the job's ranks would refuse (a --tp that does not
# divide the heads, a tensor whose shape contradicts config.json, a head
# wider than RoPE takes) are refused by duetd at startup with the loader's
# message, not restarted forever behind 503s. Budget: ~30 s.
. "$DUET_SRC/tests/integration/http_lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
FIX=$SRC/tests/fixtures/models/llama_tp_odd
make_model "$TMP/m" llama_tp_odd
prompt=$(jq -r '.prompt | map(tostring) | join(",")' "$FIX/expected.json")
greedy=$(jq -r '.greedy | map(tostring) | join(",")' "$FIX/expected.json")
ids() { seq -s, "$1" "$(($1 + $2 - 1))"; } # ids FIRST COUNT
edges="5 $(ids 3 16) $(ids 40 32)"

# idclient NAME ARGS...: the reference prompt and the block edges through a
# backend; prints "R<i> <ids>" lines
idclient() {
  local name=$1 args=""
  shift
  for p in "$prompt" $edges; do args="$args --prompt-ids $p"; done
  timeout 60 "$BIN/duet-idclient" $args -n 32 --ignore-eos --timeout 50 --model "$TMP/m" \
    --worker-bin "$BIN/duet-worker" "$@" 2>"$TMP/$name.err" | awk '/^R/ {print $1, $3}'
}
{
  echo "R0 $greedy"
  i=1
  for p in $edges; do
    echo "R$i $("$BIN/duet-generate" --model "$TMP/m" --prompt-ids "$p" -n 32 --ignore-eos 2>/dev/null | head -1)"
    i=$((i + 1))
  done
} >"$TMP/expected"
check "duet-generate gives PyTorch's greedy tokens" grep -qx "R0 $greedy" "$TMP/expected"
for layout in "inprocess" "1p1d --prefill 1 --decode 1" "tp2 --prefill 1 --decode 1 --tp 2"; do
  set -- $layout
  name=$1
  shift
  idclient "$name" "$@" >"$TMP/got.$name"
  diff "$TMP/expected" "$TMP/got.$name" || cat "$TMP/$name.err"
  check "$name: PyTorch's tokens, block edges as duet-generate" cmp -s "$TMP/expected" "$TMP/got.$name"
done

# Through HTTP with the tensor-parallel job: the same ids.
start_duetd tp2 --model "$TMP/m" --prefill 1 --decode 1 --tp 2 --worker-bin "$BIN/duet-worker" || exit 1
body="{\"prompt\":[$prompt],\"max_tokens\":32,\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0,\"return_tokens_as_token_ids\":true}"
got=$(curl -s --max-time 20 "$URL/v1/completions" -d "$body" |
  jq -r '.choices[0].logprobs.tokens | map(ltrimstr("token_id:")) | join(",")')
check "duetd --tp 2: PyTorch's tokens over HTTP" [ "$got" = "$greedy" ]
kill -TERM "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done

# refused NAME MESSAGE ARGS...: duetd exits non-zero within 10 s, naming the problem
refused() {
  local name=$1 msg=$2
  shift 2
  timeout 10 "$BIN/duetd" --port "$(free_port)" --worker-bin "$BIN/duet-worker" "$@" >"$TMP/$name.log" 2>&1
  local rc=$?
  grep -qF -- "$msg" "$TMP/$name.log" || cat "$TMP/$name.log"
  check "$name: refused at startup" sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
  check "$name: the message names the problem" grep -qF -- "$msg" "$TMP/$name.log"
}
make_model "$TMP/odd" llama_odd
refused tp_heads "--tp 2 must divide the model's attention heads (3), KV heads (1)" --model "$TMP/odd" \
  --prefill 1 --decode 1 --tp 2
# heads that split but an MLP that does not: the message names the config
# key (it said "hidden size", which reads as hidden_size, 48 here)
make_model "$TMP/mlp" llama_tp_odd
jq '.intermediate_size = 71' "$FIX/config.json" >"$TMP/mlp/config.json"
refused tp_mlp "--tp 2 must divide the model's attention heads (6), KV heads (2) and intermediate_size (71)" \
  --model "$TMP/mlp" --prefill 1 --decode 1 --tp 2
make_model "$TMP/bad" llama_mha
jq '.intermediate_size = 66' "$SRC/tests/fixtures/models/llama_mha/config.json" >"$TMP/bad/config.json"
shape="tensor 'model.layers.0.mlp.gate_proj.weight' has shape [64, 32] but the config needs [66, 32]"
refused shape_inprocess "$shape" --model "$TMP/bad"
refused shape_job "$shape" --model "$TMP/bad" --prefill 1 --decode 1
jq '.head_dim = 4098' "$SRC/tests/fixtures/models/llama_mha/config.json" >"$TMP/bad/config.json"
refused wide_head "head_dim 4098 is wider than RoPE supports (4096)" --model "$TMP/bad"
check "no worker left behind" [ -z "$(pgrep -f "duet-worker .*--model $TMP/")" ]
finish

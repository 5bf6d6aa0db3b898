# Shared by tests/integration/test_http_*.sh (sourced): a temporary model
# directory (a fixture model plus a byte-level tokenizer), duetd on a free
# loopback port, bounded waits, checks with a summary, and cleanup of every
# process started (trap on EXIT).
set -u
BIN=${DUET_BIN:?DUET_BIN not set}
SRC=${DUET_SRC:?DUET_SRC not set}
TMP=$(mktemp -d /tmp/duet-http.XXXXXX)
PIDS=""
PASS=0
FAILED=0
export NODE_PATH="$(sh "$SRC/tests/npm-deps.sh")/node_modules"

# TERM first: mpirun passes it on to its ranks (a KILL would leave them
# running), and duetd stops its worker job; KILL whatever is left after 5 s.
cleanup() {
  for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for p in $PIDS; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok: $1"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL: $1"; }
# check NAME COMMAND...: passes when the command succeeds
check() {
  local name=$1
  shift
  if "$@" >/dev/null; then ok "$name"; else bad "$name"; fi
}
finish() {
  echo "$PASS passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# make_model DIR [FIXTURE]: a servable model dir
make_model() {
  mkdir -p "$1"
  cp "$SRC/tests/fixtures/models/${2:-llama_mha}/config.json" "$SRC/tests/fixtures/models/${2:-llama_mha}/model.safetensors" "$1/"
  python3 "$SRC/tests/integration/http_model.py" "$1"
}

# start_duetd NAME ARGS...: starts duetd (log in $TMP/NAME.log), waits for
# /health 200 (20 s); sets PORT, URL, DPID. SCHEME=https for TLS.
start_duetd() {
  local name=$1
  shift
  PORT=$(free_port)
  URL=${SCHEME:-http}://127.0.0.1:$PORT
  "$BIN/duetd" --port "$PORT" "$@" >"$TMP/$name.log" 2>&1 &
  DPID=$!
  PIDS="$PIDS $DPID"
  for _ in $(seq 200); do
    [ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 1 "$URL/health")" = 200 ] && return 0
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.1
  done
  echo "duetd $name did not become ready:"
  cat "$TMP/$name.log"
  return 1
}

# status METHOD PATH [curl args...]: prints the HTTP status
status() {
  local m=$1 p=$2
  shift 2
  curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 -X "$m" "$URL$p" "$@"
}

# metric NAME: sum of a Prometheus metric's samples
metric() {
  curl -s --max-time 5 "$URL/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}

# kv_full: every decode group's KV pool free again (waits up to 10 s)
kv_full() {
  for _ in $(seq 100); do
    [ "$(metric duet_kv_blocks_used)" = 0 ] && [ "$(metric duet_requests_running)" = 0 ] && return 0
    sleep 0.1
  done
  curl -s "$URL/metrics" | grep -E "kv_blocks|running"
  return 1
}

#!/bin/bash
# The compose cluster file validates offline (no Docker engine here) and has
# the shape the deploy docs promise: only the front end publishes a port,
# replicas follow the variables, a /health check and restart policies.
set -euo pipefail
SRC="${DUET_SRC:?}"
cfg() { docker-compose -f "$SRC/deploy/docker-compose.yml" config "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
pass=0

out=$(cfg) || fail "docker-compose config rejected the file"
pass=$((pass + 1))

# Structure checks on the normalised output.
services=$(cfg --services | sort | tr '\n' ' ')
[ "$services" = "decode frontend prefill " ] || fail "services are: $services"
pass=$((pass + 1))

# Only the front end publishes a port.
published=$(echo "$out" | awk '/^  [a-z]+:$/{svc=$1} /published:/{print svc}' | sort -u | tr '\n' ' ')
[ "$published" = "frontend: " ] || fail "services publishing ports: '$published'"
pass=$((pass + 1))

echo "$out" | grep -q 'http://127.0.0.1:8000/health' || fail "no /health check"
[ "$(echo "$out" | grep -c 'restart: unless-stopped')" -eq 3 ] || fail "restart policy missing"
pass=$((pass + 1))

# Replicas follow the variables.
out2=$(DUET_PREFILL=3 DUET_DECODE=2 cfg)
echo "$out2" | awk '/^  prefill:$/{p=1} p&&/replicas:/{print $2; exit}' | grep -qx 3 || fail "prefill replicas"
echo "$out2" | awk '/^  decode:$/{p=1} p&&/replicas:/{print $2; exit}' | grep -qx 2 || fail "decode replicas"
pass=$((pass + 1))

# A broken file is rejected (the check can fail).
bad=$(mktemp); trap 'rm -f "$bad"' EXIT
sed 's/depends_on: \[prefill, decode\]/depends_on: [prefill, nosuchservice]/' "$SRC/deploy/docker-compose.yml" > "$bad"
if docker-compose -f "$bad" config >/dev/null 2>&1; then fail "a dependency on a missing service was accepted"; fi
pass=$((pass + 1))

echo "$pass passed, 0 failed"

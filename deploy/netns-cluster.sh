#!/bin/bash
# Several "hosts" on one machine, for testing duet's multi-host path without
# Docker: N network namespaces joined by a bridge that lives in a namespace
# of its own (nothing touches the root namespace's network), each with an
# address on a private subnet that exists only inside them.
#
#   netns-cluster.sh up NAME N     create NAME-br and hosts NAME-h0..h{N-1}
#   netns-cluster.sh down NAME     remove them (safe to repeat)
#   netns-cluster.sh exec NAME I CMD...   run CMD on host I (own hostname, TMPDIR)
#   netns-cluster.sh agent-path NAME      print the rsh agent for mpirun
#
# Addresses: 10.213.7.(I+1)/24. mpirun must run inside one of the hosts,
# with the printed agent as --mca plm_rsh_agent (it replaces ssh), the TCP
# BTL on eth0 and mpi_yield_when_idle (see ../shared/MACHINE-NOTES.md).
set -euo pipefail
SUBNET=10.213.7
STATE=/tmp/duet-netns

host_ip() { echo "$SUBNET.$(($2 + 1))"; }

up() {
  local name=$1 n=$2 br="$1-br" i
  down "$name" 2>/dev/null || true
  mkdir -p "$STATE/$name"
  ip netns add "$br"
  ip -n "$br" link add br0 type bridge
  ip -n "$br" link set br0 up
  ip -n "$br" link set lo up
  for ((i = 0; i < n; i++)); do
    local h="$name-h$i"
    ip netns add "$h"
    ip link add "v$name$i" type veth peer name eth0 netns "$h"
    ip link set "v$name$i" netns "$br"
    ip -n "$br" link set "v$name$i" master br0 up
    ip -n "$h" addr add "$(host_ip "$name" "$i")/24" dev eth0
    ip -n "$h" link set eth0 up
    ip -n "$h" link set lo up
    mkdir -p "$STATE/$name/tmp$i"
    echo "$(host_ip "$name" "$i") $h" >> "$STATE/$name/hosts"
  done
  write_agent "$name"
}

# The agent mpirun calls instead of ssh: `agent HOST command...`. HOST is
# an address of the subnet; the command runs in that host's namespace with
# its own UTS namespace and hostname (else Open MPI's shared-memory segments
# of two "hosts" collide) and its own TMPDIR (else PMIx files collide).
write_agent() {
  local name=$1 agent="$STATE/$1/rsh-agent"
  cat > "$agent" <<AGENT
#!/bin/sh
host=\$1; shift
while [ "\${host#-}" != "\$host" ]; do host=\$1; shift; done
i=\$(( \${host##*.} - 1 ))
exec ip netns exec "$name-h\$i" unshare --uts /bin/sh -c \
  "hostname $name-h\$i; export TMPDIR=$STATE/$name/tmp\$i; \$*"
AGENT
  chmod +x "$agent"
}

down() {
  local name=$1 ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$name-(br|h[0-9]+)\$" || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns"
  done
  rm -rf "${STATE:?}/$name"
}

exec_on() {
  local name=$1 i=$2; shift 2
  exec ip netns exec "$name-h$i" unshare --uts /bin/sh -c \
    "hostname $name-h$i; export TMPDIR=$STATE/$name/tmp$i; exec \"\$@\"" sh "$@"
}

case "${1:-}" in
  up) up "$2" "$3" ;;
  down) down "$2" ;;
  exec) shift; exec_on "$@" ;;
  agent-path) echo "$STATE/$2/rsh-agent" ;;
  *) echo "usage: $0 up NAME N | down NAME | exec NAME I CMD... | agent-path NAME" >&2; exit 2 ;;
esac

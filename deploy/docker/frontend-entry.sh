#!/bin/sh
# The front end: write a hostfile from the worker services' addresses (each
# replica of a compose service is one address behind the service's DNS
# name), then run duetd, which starts and supervises mpirun over ssh.
# Rank order follows the hostfile: rank 0 (coordinator) here, then the
# prefill hosts, then the decode hosts, each with TP slots.
set -eu
PREFILL="${DUET_PREFILL:-1}" DECODE="${DUET_DECODE:-1}" TP="${DUET_TP:-1}"
HOSTFILE=/tmp/duet-hostfile

wait_for() { # service expected-count
  i=0
  while [ "$(getent ahostsv4 "$1" | awk '{print $1}' | sort -u | wc -l)" -lt "$2" ]; do
    i=$((i + 1)); [ "$i" -lt 120 ] || { echo "frontend: $1 has not $2 replicas" >&2; exit 1; }
    sleep 1
  done
}
wait_for prefill "$PREFILL"
wait_for decode "$DECODE"
write_hostfile() {
  {
    echo "localhost slots=1"
    getent ahostsv4 prefill | awk '{print $1}' | sort -u | head -n "$PREFILL" | sed "s/\$/ slots=$TP/"
    getent ahostsv4 decode | awk '{print $1}' | sort -u | head -n "$DECODE" | sed "s/\$/ slots=$TP/"
  } > "$HOSTFILE.tmp" && mv "$HOSTFILE.tmp" "$HOSTFILE"
}
write_hostfile
# A worker container restarted by compose may come back on a new address;
# mpirun reads the hostfile at every (re)start of the job, so keep it fresh.
(while sleep 5; do write_hostfile; done) &
/usr/sbin/sshd
exec duetd --host 0.0.0.0 --port 8000 --model "${DUET_MODEL:-/model}" \
  --prefill "$PREFILL" --decode "$DECODE" --tp "$TP" --hostfile "$HOSTFILE"

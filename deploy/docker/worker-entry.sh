#!/bin/sh
# A worker container only runs sshd: the front end's mpirun starts
# duet-worker ranks here over ssh.
set -eu
exec /usr/sbin/sshd -D -e

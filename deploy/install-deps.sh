#!/bin/sh
# Install every build, test and run dependency of duet with apt.
# Idempotent: apt skips what is already installed. Debian 12, as root.
set -eu

PKGS="
  build-essential cmake pkg-config git ca-certificates
  libopenblas-dev
  openmpi-bin libopenmpi-dev
  libuv1-dev libnghttp2-dev libjansson-dev libhttp-parser-dev libssl-dev
  libpcre2-dev
  nghttp2-client nghttp2-server curl
  nodejs
  python3 python3-numpy python3-torch
  bible-kjv xz-utils
  valgrind
  docker-compose iproute2 util-linux procps
"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done

# Some images ship npm inside a newer nodejs package; Debian's npm would
# conflict with it, so ask for it only when no npm command exists.
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "install-deps: run as root (missing:$missing)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps: all dependencies present"

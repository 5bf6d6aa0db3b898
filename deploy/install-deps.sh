#!/bin/sh
# Install duet's dependencies with apt. Idempotent: installs only what is
# missing. Debian 12, as root.
#   install-deps.sh          everything: build, run and test (the default)
#   install-deps.sh build    what compiling needs (Docker build stage)
#   install-deps.sh runtime  what running duetd/duet-worker needs (Docker runtime stage)
set -eu
profile="${1:-all}"

BUILD="build-essential cmake pkg-config git ca-certificates
  libopenblas-dev openmpi-bin libopenmpi-dev
  libuv1-dev libnghttp2-dev libjansson-dev libhttp-parser-dev libssl-dev libpcre2-dev"
RUNTIME="ca-certificates openmpi-bin libopenblas0 libuv1 libnghttp2-14 libjansson4
  libhttp-parser2.9 libssl3 libpcre2-8-0 libgomp1 openssh-server openssh-client curl procps"
TEST="nghttp2-client nghttp2-server curl nodejs
  python3 python3-numpy python3-torch
  bible-kjv xz-utils valgrind
  docker-compose iproute2 util-linux procps"

case "$profile" in
  all) PKGS="$BUILD $TEST" ;;
  build) PKGS="$BUILD" ;;
  runtime) PKGS="$RUNTIME" ;;
  *) echo "usage: install-deps.sh [all|build|runtime]" >&2; exit 2 ;;
esac

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing="$missing $p"
done
# Some images ship npm inside a newer nodejs package; Debian's npm would
# conflict with it, so ask for it only when no npm command exists.
if [ "$profile" = all ]; then
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi

if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "install-deps: run as root (missing:$missing)" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps ($profile): all dependencies present"

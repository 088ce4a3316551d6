#!/bin/sh
# setup-deps.sh - install the Debian packages modelmgr builds and tests with.
# Does nothing when every package is present; works as root or through sudo.
# "setup-deps.sh fuzz" adds what make fuzz (and so CI) needs: clang, the
# libFuzzer and sanitizer runtimes (libclang-rt-dev; clang brings the C++
# library libFuzzer links with), and llvm for llvm-symbolizer, which turns
# a crash's stack into file:line in the log;
# "setup-deps.sh test" adds what make test needs beyond the build (chromium,
# which drives the status page in tests/server/test-status-page.c);
# "setup-deps.sh reliability" adds the fuzz packages and valgrind
# (make check-reliability).
set -eu

PACKAGES="build-essential cmake pkg-config
libcurl4-openssl-dev libssl-dev libcjson-dev libyaml-dev
libmicrohttpd-dev libpcre2-dev python3 python3-jinja2 jq"
case "${1:-}" in
    fuzz)        PACKAGES="$PACKAGES clang libclang-rt-dev llvm" ;;
    test)        PACKAGES="$PACKAGES chromium" ;;
    reliability) PACKAGES="$PACKAGES clang libclang-rt-dev llvm valgrind" ;;
esac

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "setup-deps: missing packages:$missing" >&2
    echo "setup-deps: run as root or install sudo, then try again" >&2
    exit 1
fi

echo "setup-deps: installing$missing"
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing

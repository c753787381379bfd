#!/usr/bin/env bash
# The Debian packages the test suite needs: Chromium (and its driver) for the browser tests, Fashion-MNIST
# for the built-in dataset, a Chinese font (WenQuanYi Micro Hei) for the exported PNGs in Chinese, Redis and
# nginx for the distributed queue's and the replicas' tests. Installs what is missing when it can (root, or sudo without a password, and
# apt-get); otherwise stops with one sentence naming the command to run. `make test` calls it as is;
# `make run` calls it with --optional (only Fashion-MNIST and the font, and a warning instead of a stop: the
# dashboard works without them and says how to add them).
set -euo pipefail

optional=0
[ "${1:-}" = "--optional" ] && optional=1
missing=()
if [ $optional -eq 0 ] && [ "${GLASSWING_SKIP_BROWSER:-}" != "1" ]; then
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fi
[ -f "${GLASSWING_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz" ] || missing+=(dataset-fashion-mnist)
[ -f "${GLASSWING_CJK_FONT:-/usr/share/fonts/truetype/wqy/wqy-microhei.ttc}" ] || missing+=(fonts-wqy-microhei)
if [ $optional -eq 0 ]; then
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ -x "${GLASSWING_NGINX:-/usr/sbin/nginx}" ] || missing+=(nginx)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
stop() {
  if [ $optional -eq 1 ]; then
    echo "note: $1 (the dashboard runs without them: the Fashion-MNIST dataset stays unavailable, exported PNGs show no Chinese)" >&2
    exit 0
  fi
  echo "$1" >&2
  exit 1
}

if ! command -v apt-get >/dev/null 2>&1; then
  stop "make needs ${missing[*]}, and this machine has no apt-get: install them with your system's package manager (or set GLASSWING_SKIP_BROWSER=1 to skip the browser tests)."
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  stop "make needs ${missing[*]}: run  sudo apt-get install -y --no-install-recommends ${missing[*]}  once, then make again."
fi
echo "Installing ${missing[*]} (Debian packages the tests need) ..."
export DEBIAN_FRONTEND=noninteractive
if ! { "${SUDO[@]}" apt-get update -qq && \
       "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  stop "apt-get could not install ${missing[*]}: run  apt-get install -y --no-install-recommends ${missing[*]}  and read its error."
fi

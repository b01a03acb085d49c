#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is installed for the browser tests
# (tests/e2e/test_web_browser.py drives it with Playwright; no browser is ever downloaded
# by Playwright itself). Installs the `chromium` package when /usr/bin/chromium is missing:
# apt-get update once, then install. Needs root, as the other server scripts do.
set -euo pipefail
CHROMIUM="${CREDIT_REGISTRY_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "browser.sh: $CHROMIUM is missing and installing it needs root (apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium fonts-noto-cjk >/dev/null  # the pages are in Japanese too
"$CHROMIUM" --version

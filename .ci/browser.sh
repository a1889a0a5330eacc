#!/usr/bin/env bash
# The console's browser tests (tests/tests/console_browser.rs): Debian's Chromium,
# installed with apt-get when /usr/bin/chromium is missing (Playwright never downloads a
# browser here), and a venv with Playwright for Python and axe-playwright-python (whose
# package carries axe-core), both pinned. Prints the venv's python, for
# LEAD_INBOX_TEST_BROWSER_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/venv.sh

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi

venv=target/browser-venv
pinned_venv playwright 1.65.2 "$venv" >&2
pinned_venv axe-playwright-python 0.1.8 "$venv" >&2
echo "$PWD/$venv/bin/python"

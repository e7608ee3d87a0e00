#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser tests
# (host/tests/web/browser.rs). Idempotent.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    echo "setup-browser: installing chromium and chromium-driver from Debian's packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver >/dev/null
    exit 0
fi
echo "setup-browser: the browser tests need Chromium and ChromeDriver (Debian: apt-get install chromium chromium-driver)" >&2
exit 1

#!/usr/bin/env bash
# Install Debian's chromium for the rendered-site test when it is absent and we can (root + apt).
# Never fails the build: without a browser the site test is skipped with a message.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[browser] installing Debian package chromium (for the rendered-site test)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1
  fi
  command -v chromium >/dev/null 2>&1 && { echo "[browser] chromium installed"; exit 0; }
fi
echo "[browser] chromium not available: the rendered-site test will be skipped" >&2
exit 0

#!/usr/bin/env bash
# Installs the real components the suite runs beside the Python code, from Debian's
# packages, when they are missing: Prometheus and promtool (end-to-end scrape test, alert
# rule tests), docker-compose (validates docker-compose.yml; no engine is needed), and
# curl and jq (the README's tour is run as written, tests/platform/docs/test_readme_tour.py),
# and Chromium with its WebDriver (pages opened in a real headless browser,
# tests/support/browser.py).
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "the tests need: $packages (Debian packages); install them, or run as root" >&2
    exit 1
  fi
fi
echo "installing test tools from Debian's packages: $packages" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $packages >/dev/null

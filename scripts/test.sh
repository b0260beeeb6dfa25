#!/usr/bin/env bash
# The one test command: makes sure redis-server is installed, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing redis-server with apt-get" >&2
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
    else
        echo "test.sh: redis-server is required (the tests start their own instances)." >&2
        echo "test.sh: install it with your package manager (e.g. 'brew install redis') and retry." >&2
        exit 1
    fi
fi

cargo test --workspace --all-features "$@"

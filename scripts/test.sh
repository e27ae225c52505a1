#!/usr/bin/env bash
# Installs what is missing, then checks formatting and lints and runs every
# test: unit, loopback, real binaries and the real window under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked

#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite: lit (round-trips, verifier
# diagnostics, interpreter semantics, variant numerics, attn-run) and the
# GoogleTest unit tests (interpreter against independent loops, .npy I/O).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --build build --target check-cascade

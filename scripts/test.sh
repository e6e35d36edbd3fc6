#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite: lit (round-trips, verifier
# diagnostics, interpreter semantics, variant numerics, attn-run, the CPU
# backend) and the GoogleTest unit tests; then a short libFuzzer run of each
# target under ASan and UBSan (scripts/fuzz.sh, docs/Fuzzing.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --build build --target check-cascade
bash scripts/fuzz.sh 20

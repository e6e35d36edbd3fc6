#!/usr/bin/env bash
# Installs Cascade's dependencies (Debian 12, idempotent) and builds it into
# build/. Sourced by scripts/demo.sh and scripts/test.sh; safe to run alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 lld-22
  libz3-dev libopenblas-dev ninja-build ccache cmake g++ libgtest-dev python3
  libclang-rt-22-dev python3-dev pybind11-dev python3-numpy python3-pytest
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Built with clang-22, the compiler of Debian's libMLIR.so: MLIR names
# template types (TypeIDs of traits and interfaces) by the compiler's
# spelling of them, and a shared library of ours (the C API) keeps copies
# that only agree with libMLIR.so's when both spell them alike. A build
# directory configured with another compiler is rebuilt from scratch. (The
# cache entry's type is STRING when the compiler came from -D, FILEPATH when
# CMake found it: either is ours when it names clang++-22; matching only
# FILEPATH wiped build/ at every second setup, fuzz.sh's in CI included.)
if [ -f build/CMakeCache.txt ] &&
   ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++-22$' build/CMakeCache.txt; then
  echo "setup: build/ was configured with another compiler; reconfiguring with clang++-22"
  rm -rf build
fi
if [ ! -f build/build.ninja ]; then
  cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22
fi
cmake --build build

#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-22, ASan + UBSan + coverage) into
# build-fuzz/ and runs each for SECONDS (default 20) on seeds from variants/
# and test/. Exits non-zero on any crash, sanitizer report, leak or timeout.
#   bash scripts/fuzz.sh            # the CI smoke run
#   bash scripts/fuzz.sh 600 1 Parse   # one target (Parse, Npy or Pipeline)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH="${1:-20}"
JOBS="${2:-1}"
TARGETS="${3:-Parse Npy Pipeline}"
# CI's short run is reproducible (a fixed seed); longer runs explore freely.
SEED=""; [ "$SECONDS_EACH" -le 60 ] && SEED="-seed=1"
# setup.sh installs clang-22 and its sanitizer/libFuzzer runtimes
# (libclang-rt-22-dev) and builds build/, whose attn-run writes .npy seeds.
bash scripts/setup.sh >/dev/null
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -G Ninja -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCASCADE_ENABLE_FUZZERS=ON -DBUILD_TESTING=OFF
fi
cmake --build build-fuzz --target cascade-fuzz-Parse cascade-fuzz-Pipeline cascade-fuzz-Npy attn-run

corpus=build-fuzz/corpus
mkdir -p "$corpus/spec" "$corpus/npy" build-fuzz/findings
cp variants/*.mlir "$corpus/spec/"
find test -name '*.mlir' -size -16k -exec cp {} "$corpus/spec/" \;
build/bin/attn-run variants/softmax.mlir --dims b=1,h=1,p=2,m=3,e=2,f=2 \
  --save-inputs "$corpus/npy/seed" >/dev/null
build/bin/attn-run test/attn-run/Inputs/identity.mlir --dims a=1,b=2,c=1,d=3 \
  --save-inputs "$corpus/npy/seed_f64_" >/dev/null

# allow_user_poisoning=0: LLVM's headers make our instrumented code poison
# BumpPtrAllocator slabs that the uninstrumented libMLIR then reads, a
# false "use-after-poison"; ASan's own checks are unaffected.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allow_user_poisoning=0
status=0
for target in $TARGETS; do
  seeds="$corpus/spec"; [ "$target" = Npy ] && seeds="$corpus/npy"
  echo "== cascade-fuzz-$target for ${SECONDS_EACH}s x $JOBS job(s)"
  mkdir -p "build-fuzz/work/$target"
  log="build-fuzz/$target.log"
  # -timeout: a single input that takes longer is a finding (a hang);
  # the pipeline runs Z3, so it gets more.
  timeout_s=10; [ "$target" = Pipeline ] && timeout_s=60
  parallel=""; [ "$JOBS" -gt 1 ] && parallel="-fork=$JOBS -ignore_crashes=0"
  if ! build-fuzz/fuzz/cascade-fuzz-$target "build-fuzz/work/$target" "$seeds" \
      -max_total_time="$SECONDS_EACH" -timeout=$timeout_s -rss_limit_mb=4096 \
      -max_len=16384 $parallel $SEED -print_final_stats=1 \
      -artifact_prefix=build-fuzz/findings/ 2>&1 | tee "$log" \
      | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==.*ERROR|SUMMARY|Done)"; then
    :
  fi
  if grep -qE "ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal" "$log"; then
    echo "cascade-fuzz-$target: FINDING ($log, build-fuzz/findings/)"
    status=1
  fi
done
exit $status

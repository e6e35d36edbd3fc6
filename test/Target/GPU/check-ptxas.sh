#!/bin/sh
# Every variant with a GPU form compiled by attn-compile --target cuda for
# each chip, its PTX assembled by CUDA's ptxas -v: no spill stores or loads,
# no stack frame (local memory), registers within 255 (one block of the
# plan's threads per SM at least; the figure is printed), shared memory
# as the header says (static: ptxas counts exactly the header's bytes,
# within 48 KiB; dynamic: no static shared memory, an `.extern .shared`
# array, and the launch's bytes within the chip's opt-in limit), no device
# malloc, and the instructions the plan promises present (mma.sync,
# ldmatrix, cp.async, shfl for row reductions; on sm_90a wgmma.mma_async
# with its fence and wait, TMA and mbarriers, and no ptxas warning such as
# C7515/C7517/C7519). Each compile of a spec to a cubin is timed (the issue's
# target is 2 s; the slowest, hedgehog's state form, takes 1.2-1.4 s
# here, most of it LLVM and ptxas: docs/GPU.md); the guard is 6 s, so that a
# slow CI machine does not fail on noise. One line per case. CHIPS="sm_80"
# runs one chip only. f16 on every chip at D = 64 and 128; bf16 (whose
# mma.sync goes through cascade-bf16-mma-to-nvvm) at D = 128. The linear
# family (a state phase: GpuStatePlan's CUDA-core form) at D = 64 and, in
# f16, 128.
set -e
variants="$1"
attn_compile="$2"
ptxas="$3"
out="$4"
mkdir -p "$out"
cases=0
limit=6
for config in ${CHIPS:-sm_80 sm_90a} sm_80:bf16 sm_90a:bf16; do
  chip=${config%%:*}
  storage=f16
  [ "$config" != "${config%:bf16}" ] && storage=bf16
  [ -n "$CHIPS" ] && [ "$storage" = bf16 ] && ! echo " $CHIPS " | grep -q " $chip " && continue
  for v in softmax softmax_onepass sigmoid softmax_causal softmax_gqa softmax_softcap softmax_sink_window softmax_window softmax_sinks_window softmax_prefix_lm softmax_alibi softmax_document softplus relu gated_output differential based softmax_lse softmax_causal_lse linear linear_associated linear_causal retention lightning hedgehog gla; do
    dims="64 128"
    [ "$storage" = bf16 ] && dims=128
    # The state-phase form (CUDA cores, f32 tiles in shared memory): f16 at
    # D = 64 and 128 on every chip (at 128 the value columns split over
    # blocks: two of 64, gla's four of 32, on sm_80 with 32-row tiles),
    # bf16 at 64.
    state=""
    case $v in linear*|retention|lightning|hedgehog|gla)
      state=1; dims=64; [ "$storage" = f16 ] && dims="64 128";;
    esac
    extra=""
    [ "$v" = hedgehog ] && extra=",r=16"
    for d in $dims; do
      k="$out/$v-$chip-$storage-$d"
      "$attn_compile" "$variants/$v.mlir" --target cuda --chip $chip \
        --storage-type $storage --head-dims "e=$d,f=$d$extra" --ptx "$k.ptx" --header "$k.h" || {
        echo "FAILED: attn-compile $v $chip $storage d=$d"; exit 1; }
      start=$(date +%s%N)
      "$attn_compile" "$variants/$v.mlir" --target cuda --chip $chip \
        --storage-type $storage --head-dims "e=$d,f=$d$extra" -o "$k.cubin" || {
        echo "FAILED: attn-compile -o cubin $v $chip $storage d=$d"; exit 1; }
      ms=$(( ($(date +%s%N) - start) / 1000000 ))
      seconds=$(printf "%d.%03d" $((ms / 1000)) $((ms % 1000)))
      [ "$ms" -lt $((limit * 1000)) ] || { echo "SLOW: $v $chip $storage d=$d took ${seconds}s"; exit 1; }
      info=$("$ptxas" -arch=$chip -O3 -v "$k.ptx" -o "$k.check.cubin" 2>&1) || {
        echo "PTXAS FAILED: $v $chip $storage d=$d"; echo "$info"; exit 1; }
      # No warning at all: on sm_90a that includes C7515/C7517/C7519 (ptxas
      # serialising wgmma because fences or waits are missing).
      if echo "$info" | grep -qi "warning"; then
        echo "PTXAS WARNING: $v $chip $storage d=$d"; echo "$info"; exit 1; fi
      spilled=$(echo "$info" | sed -n 's/.* \([0-9]*\) bytes spill stores.*/\1/p')
      if [ -n "$state" ]; then
        # The state form's loops have compile-time trip counts that ptxas
        # -O3 unrolls around their per-point branches, and it then keeps a
        # few bytes on the stack at 48-128 registers (not register
        # pressure: -O1 keeps none). Bounded here, and listed in
        # docs/GPU.md until the tensor-core form replaces these loops.
        [ "${spilled:-0}" -le 32 ] || { echo "SPILLS: $v $chip $storage d=$d"; echo "$info"; exit 1; }
      else
        echo "$info" | grep -q "0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads" || {
          echo "SPILLS: $v $chip $storage d=$d"; echo "$info"; exit 1; }
      fi
      regs=$(echo "$info" | sed -n 's/.*Used \([0-9]*\) registers.*/\1/p')
      # ptxas prints no smem figure for a kernel without static shared memory.
      smem=$(echo "$info" | sed -n 's/.* \([0-9]*\) bytes smem.*/\1/p')
      smem=${smem:-0}
      shared=$(sed -n 's/#define [a-z_0-9]*_SHARED_BYTES \([0-9]*\)$/\1/p' "$k.h" | head -1)
      dynamic=$(sed -n 's/#define [a-z_0-9]*_DYNAMIC_SHARED_BYTES \([0-9]*\)$/\1/p' "$k.h")
      [ -n "$regs" ] && [ "$regs" -le 255 ] || { echo "REGISTERS: $v $chip $storage d=$d: $regs"; exit 1; }
      if [ "$dynamic" = 0 ]; then
        [ "$smem" = "$shared" ] && [ "$smem" -le 49152 ] || { echo "SHARED: $v $chip $storage d=$d: ptxas $smem, header $shared"; exit 1; }
        smemText="$smem bytes smem"
      else
        # The opt-in limits: 163 KiB on sm_80, 227 KiB on sm_90a.
        optin=166912; [ "$chip" = sm_90a ] && optin=232448
        [ "$smem" = 0 ] && [ "$shared" -gt 49152 ] && [ "$dynamic" -ge "$shared" ] && [ "$dynamic" -le "$optin" ] || {
          echo "DYNAMIC SHARED: $v $chip $storage d=$d: ptxas $smem, header $shared, launch $dynamic"; exit 1; }
        grep -q "^\.extern \.shared \.align 16 \.b8 __cascade_dynamic_shared_memory\[\];" "$k.ptx" || {
          echo "NO EXTERN SHARED: $v $chip $storage d=$d"; exit 1; }
        smemText="$shared bytes smem (dynamic, launch $dynamic)"
      fi
      if grep -q "malloc\|\.local" "$k.ptx"; then echo "MALLOC/LOCAL: $v $chip $storage d=$d"; exit 1; fi
      # Row reductions (softmax's max and sum) are quad shuffles; sigmoid
      # and relu attention reduce no rows.
      insns="mma.sync.aligned.m16n8k16.row.col.f32.$storage.$storage.f32 ldmatrix.sync.aligned"
      copies="cp.async.ca.shared.global"
      # sm_90a: S = Q K^T and P V by wgmma (P stored to a swizzled tile by
      # 4-byte stores, fenced for the async proxy: MLIR's wgmma takes A from
      # shared memory only), the stages filled by TMA, completing on
      # mbarriers; no mma.sync, ldmatrix or thread copies (the shared
      # memory is dynamic).
      if [ "$chip" = sm_90a ]; then
        insns="wgmma.fence.sync.aligned wgmma.mma_async.sync.aligned.m64n wgmma.wait_group.sync.aligned fence.proxy.async.shared::cta"
        # P's 4-byte stores: two halves, or one word where LLVM packed the
        # pair first (a P scaled before rounding: Based, ReLU, softplus).
        if [ -z "$state" ] && ! { [ "$v" = differential ] && [ "$d" = 128 ]; } &&
           ! grep -q "st\.shared\.v2\.b16\|st\.shared\.b32" "$k.ptx"; then
          echo "MISSING P's 4-byte stores: $v $chip $storage d=$d"; exit 1; fi
        [ "$v" = differential ] && [ "$d" = 128 ] && insns="wgmma.fence.sync.aligned wgmma.mma_async.sync.aligned.m64n16k16 wgmma.wait_group.sync.aligned mma.sync.aligned.m16n8k16"
        copies="cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes mbarrier.arrive.expect_tx mbarrier.try_wait.parity"
        if grep -q "cp.async.c[ag]" "$k.ptx"; then echo "CP.ASYNC BESIDE TMA: $v $chip $storage d=$d"; exit 1; fi
        # Except differential attention at D = 128: its key step gets 16
        # keys (cascade-schedule-for-gpu: two running outputs and two score
        # tiles spilled at 64), below the 64 wgmma's P V needs.
        if [ -z "$state" ] && ! { [ "$v" = differential ] && [ "$d" = 128 ]; } &&
           grep -q "mma\.sync\|ldmatrix" "$k.ptx"; then echo "MMA.SYNC ON SM_90A: $v $chip $storage d=$d"; exit 1; fi
      fi
      insns="$insns $copies"
      case $v in sigmoid|relu) ;; *) insns="$insns shfl.sync.bfly";; esac
      # The state-phase form: every tile an f32 array in shared memory,
      # barriers between Einsums, no tensor cores.
      if [ -n "$state" ]; then
        insns="ld.shared.b32 st.shared.b32 bar.sync"
        if grep -q "mma\.\|ldmatrix\|cp\.async" "$k.ptx"; then echo "TENSOR CORES IN THE STATE FORM: $v $chip $storage d=$d"; exit 1; fi
      fi
      for insn in $insns; do
        grep -q "$insn" "$k.ptx" || { echo "MISSING $insn: $v $chip $storage d=$d"; exit 1; }
      done
      spills="0 spills"
      [ -n "$state" ] && spills="${spilled:-0} bytes spilled"
      echo "$v $chip $storage d=$d: $regs registers, $smemText, $spills, ${seconds}s"
      cases=$((cases + 1))
    done
  done
done
echo "all $cases ptxas cases passed"

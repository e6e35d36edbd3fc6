//===- FmaPeak.h - This machine's measured fp32 FMA throughput --*- C++ -*-===//
//
// `attn-run --bench` reports a kernel's GFLOP/s beside the fraction of the
// machine's fp32 FMA peak, measured in the same process with the same
// thread count by a loop of independent vector FMAs (the widest the CPU
// has: AVX-512, else AVX2 + FMA). A measured peak, not a datasheet one,
// takes the clock the machine actually sustains under that load.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_FMAPEAK_H
#define CASCADE_TOOLS_ATTNRUN_FMAPEAK_H

namespace mlir::cascade {

struct FmaPeak {
  double gflops = 0; ///< 0 when the CPU has neither AVX-512 nor FMA.
  const char *isa = "none";
};

/// Best of a few runs of the FMA loop on `threads` threads (each runs its
/// own loop; they start together): 7 runs of about 60 ms, the best kept,
/// as a shared machine only ever slows the loop down.
FmaPeak measureFmaPeak(int threads);

} // namespace mlir::cascade

#endif // CASCADE_TOOLS_ATTNRUN_FMAPEAK_H

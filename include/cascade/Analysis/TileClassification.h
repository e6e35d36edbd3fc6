//===- TileClassification.h - Empty, full and partial tile pairs -*- C++ -*-===//
//
// A masked cascade computes nothing at most (query tile, key tile) pairs of a
// causal or windowed mask. This derives, from the affine predicates of the
// Einsums inside the key iterate, which key tiles each query tile must visit
// and which of those it may visit without evaluating any predicate, as affine
// bounds on the key tile index (a #cascade.tiles attribute), and proves that
// skipping the others is legal: a step at which every predicate of the body
// is false leaves every carried tensor unchanged (over the extended reals,
// for the special values the carried tensors can hold).
//
// The bounds are derived constraint by constraint from the corners of the
// pair of tiles (a linear form takes its extremes over a box at corners), so
// they are exact for one constraint and sound for several: a visited tile
// may still be empty (it then runs masked), a tile outside the bounds is
// always empty, and a tile inside the full bounds is always full.
// docs/Schedule.md states the derivation.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_TILECLASSIFICATION_H
#define CASCADE_ANALYSIS_TILECLASSIFICATION_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include <string>

namespace mlir::cascade {

struct TileClassificationRequest {
  /// The rank cut into query tiles (the result's last work rank, `p`).
  std::string queryRank;
  int64_t queryTile = 64;
};

/// The schedule of `iterate`, which walks the outer rank of `keyPartition`.
/// Fails with the reason in `why` when the body has no predicate, a
/// predicate is not linear in the ranks, or skipping a masked step is not
/// provably the identity.
FailureOr<TileScheduleAttr>
classifyKeyTiles(IterateOp iterate, PartitionOp keyPartition,
                 const TileClassificationRequest &request, std::string &why);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_TILECLASSIFICATION_H

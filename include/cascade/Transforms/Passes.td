//===- CascadePasses.td - Analyses and rewrites of cascades ---*- tablegen -*-===//
//
// The pass-count analysis and the rewrites that lower the number of passes a
// cascade makes over a rank. docs/Passes.md explains the definitions and the
// algebraic law each rewrite relies on.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_PASSES_TD
#define CASCADE_PASSES_TD

include "mlir/Pass/PassBase.td"

def CascadePassCount : Pass<"cascade-pass-count", "::mlir::ModuleOp"> {
  let summary = "derive the number of passes over each rank and the live footprint";
  let description = [{
    For every function and every rank that some Einsum reduces over, computes
    the pass index of each Einsum and the number of passes the cascade must
    make over the rank (docs/Passes.md gives the exact definition), and the
    tensors that must be held or re-read across each barrier, with their sizes
    as products of extents (`QK: B*H*M*P`).

    Results are attached to the IR (`cascade.passes` on the function,
    `cascade.pass` on every Einsum) and emitted as remarks of the form
    `passes(m) = 3`. The `json` option writes a report for scripts; the `dot`
    option writes the dependency graph as Graphviz DOT, Einsums coloured by
    their pass over the rank with the most passes and barrier edges in red.
  }];
  let options = [
    Option<"jsonFile", "json", "std::string", /*default=*/"",
           "write a JSON report to this file ('-' for stdout)">,
    Option<"dotFile", "dot", "std::string", /*default=*/"",
           "write the dependency graph as Graphviz DOT to this file ('-' for stdout)">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"true",
           "emit one remark per function and rank">
  ];
}

def CascadeDeferDivision : Pass<"cascade-defer-division", "::mlir::func::FuncOp"> {
  let summary = "move a division past the reduction that consumes it";
  let description = [{
    Rewrites `A = SN / SD; AV = A * V reduce(m: add)`, where `SD` does not
    depend on `m`, into `SNV = SN * V reduce(m: add); AV = SNV / SD`. This
    removes the barrier between the reduction that computes `SD` and the
    reduction over `m` that reads `A` (3 -> 2 passes for softmax) and divides
    `F*P` times instead of `M*P` times.

    Generally: a map-only producer `A = d(x, y)` whose operand `y` does not
    vary with the consumer's reduced rank, read by a consumer
    `C = reduce_m c(a, w)`. Legal when `d(., y)` distributes over the
    reduction (`d(a (+) b, y) = d(a, y) (+) d(b, y)`) and commutes with the
    consumer's map (`c(d(x, y), w) = d(c(x, w), y)`); both are proved with Z3
    for the actual bodies, or the rewrite is refused with the counterexample.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeOnlineRescale : Pass<"cascade-online-rescale", "::mlir::func::FuncOp"> {
  let summary = "turn a max-shifted 2-pass cascade into the 1-pass iterative form";
  let description = [{
    Partitions the reduced rank (`m = m1 * T + m0`, `T` the `tile-size`
    option) and walks `m1` with `cascade.iterate`, carrying the running max
    and the running sums rescaled by correction factors: FuseMax's cascade 5
    (FlashAttention-2). Applies to `G = max_m X; N = f(X, G)` followed by
    add-reductions over `m` of `N`. Legal when
    `f(x, a) = f(x, b) * f(b, a)` (online rescaling), `f(a, a) = 1`, and each
    consumer's map is linear in `N`; proved with Z3 for the actual bodies, or
    refused with a counterexample.
  }];
  let options = [
    Option<"tileSize", "tile-size", "int64_t", /*default=*/"64",
           "tile size of the partitioned rank">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeReassociate : Pass<"cascade-reassociate", "::mlir::func::FuncOp"> {
  let summary = "reorder a chain of two contractions when that costs less";
  let description = [{
    Rewrites `C = sum_m (sum_k A * B) * W` into `C = sum_k A * (sum_m B * W)`
    (linear attention: `phi(Q) (phi(K)^T V)` instead of `(phi(Q) phi(K)^T) V`)
    when the new order makes no more passes and fewer FLOPs. Extents come
    from static shapes, then from the `sizes` option (`m=4096,e=64`); when
    some are unknown the rewrite is chosen if it removes an intermediate that
    spans the consumer's reduced rank (see docs/Passes.md). Legal when the
    producer's map is the product of its operands and the consumer's map is
    linear in the product (associativity and distributivity of `*` over
    `+`), proved with Z3.
  }];
  let options = [
    ListOption<"sizes", "sizes", "std::string",
               "assumed extents for the cost model, as rank=N">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeSplitSum : Pass<"cascade-split-sum", "::mlir::func::FuncOp"> {
  let summary = "distribute a contraction over a sum of terms in its operand";
  let description = [{
    Rewrites `A = x +- c * y; C = sum_m A * W` (A read only by C) into
    `C1 = sum_m x W; C2 = sum_m y W; C = C1 +- c * C2`, with `c` any
    operand-free factor. Differential attention's
    `(softmax1 - 0.5 softmax2) V` becomes two softmaxes that the other
    rewrites stream. Legal when the consumer's map is the product of its
    operands (proved with Z3) and every operand involved is finite. This
    pass splits every site; `cascade-minimize-passes` splits only where it
    lowers the pass count, since a split adds a contraction.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeFuseIterates : Pass<"cascade-fuse-iterates", "::mlir::func::FuncOp"> {
  let summary = "walk independent key streams in one cascade.iterate";
  let description = [{
    Merges two `cascade.iterate`s over partitions of the same rank with the
    same tile, the second not depending on the first's results, into one
    iterate carrying both states (the second's ranks renamed to the first's).
    Exact: each stream keeps its ops and their order. Loops with a tile
    schedule or a masked Einsum are left apart.
  }];
}

def CascadeChunk : Pass<"cascade-chunk", "::mlir::func::FuncOp"> {
  let summary = "causal linear attention at linear cost: past key tiles through a state stacked per key tile";
  let description = [{
    On the scheduled form (after `cascade-partition-rank`), rewrites a
    causal key iterate whose carried sums are `R += sum_m0 (A B^T) X` (a
    query-side factor A, key-side factors B and X, all finite) into
    Lightning Attention-2's split: a state phase `cascade.grid [b, h]`
    walks the key tiles once and stacks the prefix sums `H = sum B^T X`
    per key tile; each query tile starts its sums from `A H` at the number
    of key tiles wholly in its past, and its key loop keeps only the tiles
    on the diagonal (masked). Quadratic work becomes O(N C) per head.
    Applies to `m <= p + M - P + c` (c <= 0) masks. A decay between the
    score and X, a masked map `s * E(r (q - m))` with E exp or exp2 and the
    rate r read per (b, h) (RetNet, Lightning), is factored at the key tile
    boundary and carried in the state: the keys weighted by their decay to
    the tile's end, the state decayed by a tile per step, each row's
    inter-chunk product scaled by its decay from the boundary. Other
    iterates are left as they are (with a remark saying why when `remarks`
    is set).
  }];
  let options = [
    Option<"emitRemarks", "remarks", "bool", /*default=*/"false",
           "say which key loops were chunked and why others were not">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def CascadeChunkGates : Pass<"cascade-chunk-gates", "::mlir::func::FuncOp"> {
  let summary = "gated linear attention (GLA) at linear cost: gates carried in a state stacked per key tile, prefix sums local to each tile";
  let description = [{
    On a cascade as a user writes it (before scheduling), rewrites gated
    linear attention, `C = g(G) reduce(u: add) where (u <= m)` (log forget
    gates, provably at most 0), a score `x y exp(C[q] - C[m]) k` summed over
    a contracted rank `e` with the causal mask `m <= p + M - P`, and the
    output `S * V reduce(m: add)`, into the scheduled, chunked form: a state
    phase `cascade.grid` over the work ranks walks the key tiles once,
    computing each tile's own prefix sums of the gates (GLA's chunk-local
    normalisation), the keys decayed to the tile's end, and the state
    `H = diag(exp(GT)) H + KD^T V`, stacked per tile with the prefix sums;
    the query grid reads, per row, the state before the row's key tile
    scaled by the row's decay from it, and walks only the row's own key
    tile (classified) with tile-local decay differences. Quadratic work
    in M becomes O(M (Tk + E) E) per head. The body's factorisation and
    the sign of the gates are proved with Z3, finiteness by the float-class
    analysis; anything else is left as it is (with a remark saying why
    when `remarks` is set). Functions already scheduled are left alone.
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "rows of the query rank per work item (at most key-tile)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "keys per chunk">,
    ListOption<"tileExtents", "tile-extents", "std::string",
               "compile-time extents of the head dimensions, as rank=N">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"false",
           "say which cascades were chunked and why others were not">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def CascadeMinimizePasses : Pass<"cascade-minimize-passes", "::mlir::func::FuncOp"> {
  let summary = "apply the pass-reducing rewrites until nothing changes";
  let description = [{
    Runs `cascade-defer-division`, `cascade-online-rescale`,
    `cascade-reassociate` and `cascade-fuse-iterates` until none of them
    changes the function; while a rank still needs several passes, tries
    `cascade-split-sum` at each site on a copy (followed by the others) and
    keeps the split when the count goes down. Reports the pass count of every
    rank before and after as a remark (`passes(m): 3 -> 1`), and where a
    rank keeps several passes, a remark at each Einsum that waits for a
    full reduction, naming the dependency and whether a rewrite was refused
    there.
  }];
  let options = [
    Option<"tileSize", "tile-size", "int64_t", /*default=*/"64",
           "tile size for cascade-online-rescale">,
    ListOption<"sizes", "sizes", "std::string",
               "assumed extents for cascade-reassociate, as rank=N">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"true",
           "report the pass counts before and after">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeStreamRank : Pass<"cascade-stream-rank", "::mlir::func::FuncOp"> {
  let summary = "walk a 1-pass key rank tile by tile with cascade.iterate";
  let description = [{
    A cascade that makes one pass over its key rank but has no iterate yet
    (sigmoid attention, linear attention in the associated order) reduces
    that rank with associative operators only. This pass partitions the rank
    (`m = m1 * T + m0`) and moves every Einsum over it into a
    `cascade.iterate m1`: each reduction over `m` becomes a reduction over
    `m0` folded into a carried tensor (`R' = R (+) L`, starting from the
    operator's identity). Einsums that do not depend on the rank stay
    outside. Functions that already iterate, and functions with no
    dynamically sized reduced rank, are left alone; a cascade that still
    needs more than one pass over the rank gets an error.
  }];
  let options = [
    Option<"tileSize", "tile-size", "int64_t", /*default=*/"64",
           "tile size of the streamed rank">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeClassifyTiles : Pass<"cascade-classify-tiles", "::mlir::func::FuncOp"> {
  let summary = "classify (query tile, key tile) pairs as empty, partial or full from the predicates";
  let description = [{
    For the key iterate of a 1-pass cascade (`cascade.iterate m1` over the
    outer rank of `m = m1 * T + m0`), derives from the affine predicates of
    the Einsums in its body which key tiles each query tile must visit and
    which of those are full (every predicate holds everywhere, so no mask is
    evaluated), and attaches them as a `#cascade.tiles` attribute: affine
    bounds on `m1` in terms of the query tile index, the ranks fixed for a
    work item and the extents. Skipping the other key tiles is proved legal
    first: a step at which every predicate is false must leave every
    carried tensor unchanged (over the extended reals, with Z3). Where the
    pass cannot classify (no predicate, a nonlinear predicate, an unproved
    identity) it leaves the iterate alone and says why in a remark.

    The interpreter honours the attribute (it skips and unmasks exactly as
    a kernel would), so `attn-run --compare` checks a classification by
    numbers; the CPU kernel reads it to bound its key loop. docs/Schedule.md
    gives the derivation.
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "rows of the query rank per tile (the backends' query tile)">,
    Option<"queryRank", "query-rank", "std::string", /*default=*/"\"\"",
           "the query rank (default: the result's second-to-last rank)">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"false",
           "emit a remark per iterate: the classification or why there is none">
  ];
}

def CascadePartitionRank : Pass<"cascade-partition-rank", "::mlir::func::FuncOp"> {
  let summary = "cut the query rank into tiles and declare the work grid (the scheduled form)";
  let description = [{
    Produces the scheduled form of a 1-pass cascade: the query rank `p` is
    partitioned (`cascade.partition p = p1 * T + p0`) and every Einsum (or
    key `cascade.iterate`) that has it is moved into a `cascade.grid` over
    the result's other work ranks and `p1` (`[b, h, p1]`), rewritten over
    the tile: the grid ranks leave the outputs (they are fixed), `p` becomes
    `p0` in tile-local tensors and `p1 * T + p0` where a global tensor is
    read. Einsums that do not have the query rank (per-head slopes, a
    key-side state) stay outside the grid and run once. The head dimensions
    (the innermost rank of each argument and of the result) become
    `tile_extents`, from `tile-extents` (`e=64,f=64`) or the function's
    static types. A `#cascade.tiles` schedule on the key iterate must use
    the same query tile; its tile index becomes `p1`.

    A cascade that still reduces the query rank, reads another query tile's
    rows of a tile-local tensor, or walks a rank that is not tile-local gets
    an error saying what to change. The interpreter executes the result, so
    `attn-run --compare` and the numeric tests check the rewrite.
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "rows of the query rank per work item">,
    Option<"queryRank", "query-rank", "std::string", /*default=*/"\"\"",
           "the query rank (default: the result's second-to-last rank)">,
    ListOption<"tileExtents", "tile-extents", "std::string",
               "compile-time extents of the head dimensions, as rank=N">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def CascadeAnnotatePlan : Pass<"cascade-annotate-plan", "::mlir::func::FuncOp"> {
  let summary = "attach the schedule plan of a scheduled cascade as attributes";
  let description = [{
    Computes the target-independent plan of a function in the scheduled form
    (a `cascade.grid` result, its key rank streamed) for a target description
    and attaches it, so that lit tests can check scheduling decisions the
    backends only read (docs/Schedule.md, "The plan"):

    - on the grid, `cascade.plan = {work_ranks, work_extents, buffers,
      packs, staging, staging_bytes, target}`: the work items (row-major over
      the grid's ranks, each extent a dimension of the output, in tiles for
      the query partition's outer rank) and a work item's staging memory;
    - on every Einsum, `cascade.plan = {buffer, loops, reductions, vector,
      lanes, register_tile, access}`: the output buffer's tile-local ranks
      (or `"in place"`), the loop order, the vector rank and its lanes, the
      register tile (rows x vectors of accumulators) and each operand's
      access: `broadcast`, `contiguous` or `packed#k[ranks]` (staging buffer
      `k`, `hoisted` when it is made once before the key loop).

    Functions without Einsums are left alone.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"avx512\"",
           "target description: avx512 (16 lanes, 24 accumulators), avx2 "
           "(8 lanes, 12 accumulators), or an NVIDIA chip (sm_80, sm_86, "
           "sm_89, sm_90a: the GPU plan, `cascade.gpu_plan`)">
  ];
}

#endif // CASCADE_PASSES_TD

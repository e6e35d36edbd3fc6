//===- CascadeOps.td - Ops of the cascade dialect --------------*- tablegen -*-===//
//
// The extended Einsum, its scalar-body helpers, rank partitioning and the
// iterative rank. docs/Semantics.md gives the exact semantics in prose.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_OPS_TD
#define CASCADE_OPS_TD

include "cascade/Dialect/Cascade/IR/CascadeBase.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/IR/OpAsmInterface.td"

def Cascade_ReductionArrayAttr
    : TypedArrayAttrBase<Cascade_ReductionAttr, "reductions, innermost first">;

//===----------------------------------------------------------------------===//
// EinsumOp
//===----------------------------------------------------------------------===//

def Cascade_PredicateAttr : TypedArrayAttrBase<IntegerSetAttr,
    "disjunction of integer sets"> {
  let constBuilderCall = ?;
}

def Cascade_DataCompareArrayAttr
    : TypedArrayAttrBase<Cascade_DataCompareAttr,
                         "comparisons of integer reads, one per pair of data inputs">;

def Cascade_EinsumOp : Cascade_Op<"einsum", [
    Pure, IsolatedFromAbove, SingleBlock, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "one extended Einsum: map, per-rank reduce, predicate";
  let description = [{
    Computes one tensor of a cascade. For every point of its iteration space
    (the output ranks, the reduced ranks, and the ranks fixed by enclosing
    `cascade.iterate` ops) the body maps the operand elements at that point,
    read through affine index expressions of the ranks, to one scalar; the
    reduced ranks are then folded with their operators.

    ```mlir
    %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e]
            reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>)
                             -> tensor<?x?x?x?xf32>
    %SN = cascade.einsum SN[b, h, m, p] = exp((%QK[b, h, m, p] - %GM[b, h, p]) / sqrt(E))
            where (m <= p + M - P) else 0.0 : (...) -> tensor<?x?x?x?xf32>
    ```

    The optional name before the output ranks (`QK`) is the tensor's name in
    the cascade's equations; analyses and pictures use it.

    Bodies made only of float arithmetic, `exp`/`log`/`sqrt`/..., literals,
    rank coordinates (`m`) and extents (`M`) print infix as above; any other
    body prints in the region form
    `[p] = map(%A[p, m], %B[m]) reduce(m: add) { ^bb0(%a: f32, %b: f32): ... }`.

    Attributes: `ranks` names the dimensions of every affine map and of the
    predicate; `symbols` names the ranks whose extents are the maps'
    symbols; `predicate` is a disjunction of integer sets, each a
    conjunction of affine constraints (`where (a, b) or (c)`; `x != y`
    parses as `(x < y) or (x > y)`, distributed over the other
    constraints); `output` lists the ranks of the result in order; `reductions`
    lists the reduced ranks, innermost first. A point that fails the
    predicate, or lies past the end of a partitioned rank, is skipped by the
    reductions; an output point with no point left to reduce (or, without
    reductions, that fails the predicate) holds `fill` (`else`), which
    defaults to the identity of the outermost reduction, or 0.
  }];

  let arguments = (ins Variadic<AnyRankedTensor>:$inputs,
                       Variadic<RankedTensorOf<[AnySignlessInteger]>>:$data_inputs,
                       StrArrayAttr:$ranks,
                       StrArrayAttr:$symbols,
                       StrArrayAttr:$output,
                       AffineMapArrayAttr:$indexing_maps,
                       Cascade_ReductionArrayAttr:$reductions,
                       OptionalAttr<Cascade_PredicateAttr>:$predicate,
                       OptionalAttr<AffineMapArrayAttr>:$data_maps,
                       OptionalAttr<Cascade_DataCompareArrayAttr>:$data_predicate,
                       OptionalAttr<TypedAttrInterface>:$fill,
                       OptionalAttr<StrAttr>:$name);
  let results = (outs AnyRankedTensor:$result);
  let regions = (region SizedRegion<1>:$body);

  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;

  let extraClassDeclaration = [{
    /// Position of `rank` in `getRanks()`, or -1.
    int64_t getRankPosition(::llvm::StringRef rank);
    /// Whether `rank` is one of the reduced ranks.
    bool isReduced(::llvm::StringRef rank);
    /// The ranks that are neither output nor reduced: fixed by an enclosing
    /// cascade.iterate.
    ::llvm::SmallVector<::llvm::StringRef> getOuterRanks();
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// The value written where nothing is left to reduce (see description).
    double getFillValue();
    /// Whether operand `index` is read at the point of its own ranks
    /// `ranks` (each index a bare rank of that name, in that order).
    bool readsAtOwnPoint(unsigned index, ::llvm::ArrayRef<::llvm::StringRef> ranks);
    /// `expr` (over this Einsum's ranks and symbols) as
    /// `sum_r coefficients[r] * r + rest`: a constant coefficient per rank,
    /// by name (zero ones left out), and `rest` over the symbols alone.
    /// Fails when a rank's coefficient is not a constant (a floordiv or mod
    /// of a rank, a product with an extent).
    ::mlir::LogicalResult getRankCoefficients(
        ::mlir::AffineExpr expr, ::llvm::StringMap<int64_t> &coefficients,
        ::mlir::AffineExpr &rest);
    /// The conjunctions of the predicate (it holds where one of them holds);
    /// empty without a predicate.
    ::llvm::SmallVector<::mlir::IntegerSet> getDisjuncts();
    /// Whether some points are masked: an affine predicate or a data
    /// comparison.
    bool hasMask() { return getPredicate() || getDataPredicate(); }
    /// The data comparisons (empty without them).
    ::llvm::SmallVector<DataCompareAttr> getDataCompares();
    /// The index map of data input `i`.
    ::mlir::AffineMap getDataMap(unsigned i);
    /// Every read of the Einsum with its index map: the inputs, then the
    /// data inputs (empty if a map is missing; the verifier reports it).
    ::llvm::SmallVector<::std::pair<::mlir::Value, ::mlir::AffineMap>>
    getReads();
  }];
}

//===----------------------------------------------------------------------===//
// Body helpers
//===----------------------------------------------------------------------===//

def Cascade_ScalarType : AnyTypeOf<[Index, AnySignlessInteger, AnyFloat]>;

def Cascade_IndexOp : Cascade_Op<"index", [Pure, HasParent<"EinsumOp">]> {
  let summary = "the coordinate of a rank at the current point of an Einsum";
  let description = [{
    `%i = cascade.index m : f32` is the coordinate of rank `m` at the point the
    enclosing Einsum's body is evaluated at, converted to the result type. It
    is how masks, ALiBi slopes and positions read positions. Infix bodies
    write it as the bare rank name (`m`).
  }];
  let arguments = (ins StrAttr:$rank);
  let results = (outs Cascade_ScalarType:$result);
  let assemblyFormat = "custom<RankName>($rank) attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Cascade_ExtentOp : Cascade_Op<"extent", [Pure, HasParent<"EinsumOp">]> {
  let summary = "the extent (size) of a rank";
  let description = [{
    `%n = cascade.extent e : f32` is the number of coordinates of rank `e`
    (for a partition's inner rank, the tile size). Infix bodies write it as
    the rank name in upper case (`E`), e.g. the scale `1.0 / sqrt(E)`.
  }];
  let arguments = (ins StrAttr:$rank);
  let results = (outs Cascade_ScalarType:$result);
  let assemblyFormat = "custom<RankName>($rank) attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Cascade_YieldOp : Cascade_Op<"yield", [
    Pure, Terminator, ReturnLike, ParentOneOf<["EinsumOp", "IterateOp", "GridOp"]>]> {
  let summary = "yields the body's scalar, an iteration's carried tensors or a work item's tiles";
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
  let builders = [OpBuilder<(ins), [{ /* yields nothing */ }]>];
  // What a yield may hold is checked by its parent (EinsumOp, IterateOp).
}

//===----------------------------------------------------------------------===//
// Rank partitioning and iterative ranks
//===----------------------------------------------------------------------===//

def Cascade_PartitionOp : Cascade_Op<"partition", []> {
  let summary = "splits a rank into an outer and an inner rank";
  let description = [{
    `cascade.partition m = m1 * 64 + m0` declares, for the enclosing function,
    the ranks `m1` (extent `ceil(M / 64)`) and `m0` (extent 64) with
    `m = m1 * 64 + m0`. Points with `m1 * 64 + m0 >= M` (the tail of the last
    tile) lie outside the rank: every Einsum that iterates or fixes both
    `m1` and `m0` skips them, so a tail is the dialect's concern and not the
    spec writer's.
  }];
  let arguments = (ins StrAttr:$rank, StrAttr:$outer,
                       ConfinedAttr<I64Attr, [IntPositive]>:$tile,
                       StrAttr:$inner);
  let assemblyFormat = [{
    custom<RankName>($rank) `=` custom<RankName>($outer) `*` $tile `+`
    custom<RankName>($inner) attr-dict
  }];
  let hasVerifier = 1;
}

def Cascade_IterateOp : Cascade_Op<"iterate", [
    RecursiveMemoryEffects, SingleBlockImplicitTerminator<"YieldOp">,
    DeclareOpInterfaceMethods<OpAsmOpInterface,
                              ["getAsmResultNames", "getAsmBlockArgumentNames"]>]> {
  let summary = "walks a rank in order, carrying state from step to step";
  let description = [{
    Runs its body once for each coordinate of `rank`, in increasing order.
    Inside the body the rank is fixed: Einsums may index with it and read it,
    but do not iterate it. The block arguments hold the carried tensors: the
    `init` operands at the first step, the previous step's `cascade.yield`
    afterwards; the results are the values yielded by the last step (the
    `init` values if the rank is empty).

    Values yielded after the carried ones are **stacked**: their results
    (typed after `stack`) have the iterated rank as a new leading
    dimension, and hold at coordinate k what step k yielded. A scan (the
    running state of a chunked linear attention, one per chunk) is a
    carried value yielded twice:

    ```mlir
    %RKV, %RKV_steps = cascade.iterate m1 init(%rkv = %RKV0)
        : tensor<64x64xf32> stack tensor<?x64x64xf32> {
      ...
      cascade.yield %next, %next : tensor<64x64xf32>, tensor<64x64xf32>
    }
    ```

    This is FuseMax's iterative rank:

    ```mlir
    cascade.partition m = m1 * 64 + m0
    %RM, %RD, %RNV = cascade.iterate m1
        init(%rm = %RM0, %rd = %RD0, %rnv = %RNV0)
        : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32> {
      ...
      cascade.yield %rm1, %rd1, %rnv1 : ...
    }
    ```
  }];
  let arguments = (ins StrAttr:$rank, Variadic<AnyRankedTensor>:$inits,
                       OptionalAttr<Cascade_TileScheduleAttr>:$tiles);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// The results after the carried ones: one per stacked value, with the
    /// iterated rank as a new leading dimension.
    unsigned getNumStacked() {
      return getResults().size() - getInits().size();
    }
    ::mlir::ResultRange getCarriedResults() {
      return getResults().take_front(getInits().size());
    }
    ::mlir::ResultRange getStackedResults() {
      return getResults().drop_front(getInits().size());
    }
    /// Whether `result` (one of this op's) is stacked.
    bool isStacked(::mlir::Value result) {
      return ::llvm::cast<::mlir::OpResult>(result).getResultNumber() >=
             getInits().size();
    }
    ::mlir::LogicalResult verifyTileSchedule(TileScheduleAttr tiles,
                                             const RankEnvironment *env);
  }];
}

//===----------------------------------------------------------------------===//
// The work grid of the scheduled form
//===----------------------------------------------------------------------===//

def Cascade_GridOp : Cascade_Op<"grid", [
    RecursiveMemoryEffects, SingleBlock,
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "the parallel work items of a scheduled cascade";
  let description = [{
    Runs its body once for every point of `ranks` (the work grid, e.g.
    `[b, h, p1]`: batch, head and query tile), in any order or in parallel.
    Inside the body those ranks are fixed, as a `cascade.iterate` fixes its
    rank: Einsums index with them and read them, but do not iterate them.
    Each work item yields one tile per result; result `i` is assembled from
    the tiles of every item and has the ranks `outputs[i]`:

    ```mlir
    cascade.partition p = p1 * 64 + p0
    %O = cascade.grid [b, h, p1] tile_extents(e = 64, f = 64)
        -> ([b, h, p, f]) : tensor<?x?x?x?xf32> {
      %RM0 = cascade.einsum RM0[p0] = -inf : () -> tensor<?xf32>
      ...
      %AV = cascade.einsum AV[p0, f] = %RNV[p0, f] / %RD[p0] : ...
      cascade.yield %AV : tensor<?x?xf32>
    }
    ```

    The ranks of a yielded tile are the ranks of `outputs[i]` with the grid
    ranks left out and a rank partitioned by a grid rank (`p`, cut by `p1`)
    replaced by the partition's inner rank (`p0`). A tile row past the end
    of a partitioned rank (the tail of the last query tile) is not written.

    This is the *scheduled form* (docs/Schedule.md): every rank an Einsum
    inside the grid iterates or reduces is tile-local, i.e. the inner rank
    of a partition (a static tile) or a rank whose extent `tile_extents`
    fixes at compile time (the head dimensions); every other rank is fixed
    by the grid or by an enclosing `cascade.iterate`. A backend maps the
    grid to threads or thread blocks and sizes every buffer of a work item
    from these static extents. `cascade-partition-rank` produces it.
  }];
  let arguments = (ins StrArrayAttr:$ranks, TypedArrayAttrBase<StrArrayAttr,
                       "ranks of each result">:$outputs,
                       DictionaryAttr:$tile_extents);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::Block &getBodyBlock() { return getBody().front(); }
    /// Whether the grid fixes `rank`.
    bool fixesRank(::llvm::StringRef rank);
    /// The compile-time extent `tile_extents` gives `rank`, if any.
    ::std::optional<int64_t> getTileExtent(::llvm::StringRef rank);
    /// The ranks of the tile yielded for result `i` (see description).
    ::llvm::SmallVector<::std::string>
    getTileRanks(unsigned i, const RankEnvironment &env);
  }];
}

#endif // CASCADE_OPS_TD

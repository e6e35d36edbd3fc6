//===- CascadeBase.td - The cascade dialect and its attributes -*- tablegen -*-===//
//
// The dialect definition, the reduce-operator enum and the reduction
// attribute shared by the ops in CascadeOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_BASE_TD
#define CASCADE_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Cascade_Dialect : Dialect {
  let name = "cascade";
  let cppNamespace = "::mlir::cascade";
  let summary = "Attention as a cascade of extended Einsums";
  let description = [{
    The `cascade` dialect writes attention (and anything else that is a short
    chain of tensor contractions with user-defined scalar operators) as a
    *cascade of extended Einsums*, the notation of FuseMax (MICRO 2024) built
    on EDGE/TeAAL. Each `cascade.einsum` is one equation with named ranks, a
    map action given by a scalar region, per-rank reduce operators and an
    optional predicate. `cascade.partition` splits a rank into an outer and
    an inner rank (`m = m1 * 64 + m0`); `cascade.iterate` walks a rank
    sequentially while carrying state, which is how FuseMax's 1-pass cascade
    (FlashAttention-2) is written.

    Rank names are scoped to the enclosing function: a rank `m` means the
    same index space in every Einsum of a function, and its extent (written
    `M` in expressions) is bound by the function arguments it indexes. See
    docs/Semantics.md for the exact semantics.
  }];
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

class Cascade_Op<string mnemonic, list<Trait> traits = []>
    : Op<Cascade_Dialect, mnemonic, traits>;

def Cascade_ReduceKind : I32EnumAttr<"ReduceKind",
    "operator that reduces a rank of an extended Einsum", [
      I32EnumAttrCase<"add", 0>,
      I32EnumAttrCase<"mul", 1>,
      I32EnumAttrCase<"max", 2>,
      I32EnumAttrCase<"min", 3>
    ]> {
  let cppNamespace = "::mlir::cascade";
  let genSpecializedAttr = 0;
}

def Cascade_ReduceKindAttr : EnumAttr<Cascade_Dialect, Cascade_ReduceKind,
                                      "reduce_kind">;

def Cascade_ReductionAttr : AttrDef<Cascade_Dialect, "Reduction"> {
  let mnemonic = "reduction";
  let summary = "a reduced rank and the operator that reduces it";
  let description = [{
    `#cascade.reduction<"e", add>` reduces rank `e` with `add`. An Einsum
    lists its reductions innermost first.
  }];
  let parameters = (ins "::mlir::StringAttr":$rank,
                        "::mlir::cascade::ReduceKind":$kind);
  let assemblyFormat = "`<` $rank `,` $kind `>`";
}

def Cascade_CompareKind : I32EnumAttr<"CompareKind",
    "comparison of two integer reads in a data predicate", [
      I32EnumAttrCase<"eq", 0>,
      I32EnumAttrCase<"le", 1>,
      I32EnumAttrCase<"lt", 2>
    ]> {
  let cppNamespace = "::mlir::cascade";
  let genSpecializedAttr = 0;
}

def Cascade_DataCompareAttr : AttrDef<Cascade_Dialect, "DataCompare"> {
  let mnemonic = "compare";
  let summary = "how the two reads of one data comparison compare";
  let description = [{
    `#cascade.compare<eq>` holds where the two integer reads are equal;
    `le` and `lt` where the first is at most (less than) the second. The
    reads are a pair of an Einsum's `data_inputs` (see cascade.einsum).
  }];
  let parameters = (ins "::mlir::cascade::CompareKind":$kind);
  let assemblyFormat = "`<` $kind `>`";
}

def Cascade_KeyRangeAttr : AttrDef<Cascade_Dialect, "KeyRange"> {
  let mnemonic = "key_range";
  let summary = "the key tiles one query tile visits, and those it visits unmasked";
  let description = [{
    One range of a `#cascade.tiles` schedule. Each map takes the schedule's
    `dims` (the query tile index first) and `symbols` and gives bounds on the
    key tile index: the tile visits key tiles in `[lower, upper)` (the
    largest result of `lower`, the smallest of `upper`, as for
    `affine.for`), and inside them those in `[full_lower, full_upper)` are
    *full*: every predicate of the iterate's body holds at every point of
    the pair of tiles, so they run without masks. Key tiles outside every
    range of the schedule are *empty* for that query tile and are skipped.
  }];
  let parameters = (ins "::mlir::AffineMap":$lower, "::mlir::AffineMap":$upper,
                        "::mlir::AffineMap":$full_lower,
                        "::mlir::AffineMap":$full_upper);
  let assemblyFormat = "`<` struct(params) `>`";
}

def Cascade_TileScheduleAttr : AttrDef<Cascade_Dialect, "TileSchedule"> {
  let mnemonic = "tiles";
  let summary = "mask-aware classification of (query tile, key tile) pairs";
  let description = [{
    Attached to the key `cascade.iterate` by `cascade-classify-tiles`. The
    query rank `query` is cut into tiles of `query_tile` rows; for each query
    tile, the iterate visits only the key tiles inside some range of
    `ranges` (`#cascade.key_range`; one per conjunction of a union), each
    once and in key order, and runs those inside some range's full bounds
    without evaluating predicates. Skipping a key tile is legal because
    the pass proved that a step at which every predicate of the body is
    false leaves every carried tensor unchanged (docs/Schedule.md).

    ```mlir
    tiles = #cascade.tiles<query = "p", query_tile = 64,
        dims = ["p#tile"], symbols = ["M", "P"],
        ranges = [#cascade.key_range<
          lower = affine_map<(d0)[s0, s1] -> (0)>,
          upper = affine_map<(d0)[s0, s1] -> (s0 ceildiv 64,
                                              (d0 * 64 + s0 - s1 + 63) floordiv 64 + 1)>,
          full_lower = ..., full_upper = ...>]>
    ```

    `dims` names the maps' dimensions: the first is the query tile index
    (its name is the query rank followed by `#tile`), the others are ranks
    fixed for a work item (batch, head). `symbols` names the extents the
    maps' symbols stand for.

    `data` (optional) lists the data comparisons every masked Einsum of the
    body shares (`%D[b, m] == %D[b, p]`, as `[#cascade.compare<eq>]`); the
    affine ranges then only bound the key tiles, and each visited pair is
    classified again at run time from the minimum and maximum of each read
    over the pair: a pair on which some comparison can hold nowhere
    (`eq`: the two id ranges are disjoint) is skipped, and a pair in the
    full bounds runs unmasked only where every comparison holds everywhere
    (`eq`: both ranges are one and the same id). Each read must vary with
    the query rows or with the key tile, not both, so that the minima and
    maxima are per tile.
  }];
  let parameters = (ins "::mlir::StringAttr":$query, "int64_t":$query_tile,
                        "::mlir::ArrayAttr":$dims, "::mlir::ArrayAttr":$symbols,
                        "::mlir::ArrayAttr":$ranges,
                        OptionalParameter<"::mlir::ArrayAttr">:$data);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // CASCADE_BASE_TD

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

#endif // CASCADE_BASE_TD

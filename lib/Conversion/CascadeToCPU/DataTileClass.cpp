//===- DataTileClass.cpp - Key tiles classified by ids at run time --------===//
//
// A key loop whose tile schedule lists data comparisons (document ids:
// `%D[b, m] == %D[b, p]`) decides per (query tile, key tile) pair, at run
// time, whether a comparison can never hold (skip the pair) or always holds
// (the pair may run without masks), from the minimum and maximum of each
// read: over the query tile's rows (once per query tile, before the key
// loop) or over the key tile's keys (once per key step). This is the rule
// docs/Schedule.md states and the interpreter executes (classifyByData);
// which read varies with which tile is the plan's (DataBoundsPlan). No
// P x M mask is ever built.
//
//===----------------------------------------------------------------------===//

#include "KernelState.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::cascade;
using namespace mlir::cascade::cpu;

DataTileClassifier::DataTileClassifier(KernelState &state,
                                       const DataBoundsPlan &plan)
    : s(state), plan(plan), ranges(plan.varies.size()) {}

std::pair<Value, Value> DataTileClassifier::emitRange(unsigned read,
                                                      Value count) {
  OpBuilder &b = s.b;
  Location loc = s.loc;
  EinsumOp reader = plan.reader;
  StringRef varies = plan.varies[read];
  Value ids = s.storage.lookup(reader.getDataInputs()[read]).buffer;
  Type i64 = b.getI64Type();
  Value lowest = arith::ConstantIntOp::create(
      b, loc, i64, std::numeric_limits<int64_t>::max());
  Value highest = arith::ConstantIntOp::create(
      b, loc, i64, std::numeric_limits<int64_t>::min());
  auto loop = scf::ForOp::create(b, loc, s.constantIndex(0), count,
                                 s.constantIndex(1),
                                 ValueRange{lowest, highest});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  // The read's global index: the varying rank at the loop's coordinate, the
  // others fixed for the item or the key step (the plan checked).
  SmallVector<Value> dims, symbols;
  for (StringRef rank : reader.getRanks().getAsValueRange<StringAttr>()) {
    Value value = rank == varies ? loop.getInductionVar()
                                 : s.fixed.lookup(rank);
    dims.push_back(value ? value : s.constantIndex(0));
  }
  for (StringRef rank : reader.getSymbols().getAsValueRange<StringAttr>())
    symbols.push_back(s.extents.lookup(rank));
  SmallVector<Value> indices;
  for (AffineExpr expr : reader.getDataMap(read).getResults())
    indices.push_back(affine::expandAffineExpr(b, loc, expr, dims, symbols));
  Value id = memref::LoadOp::create(b, loc, ids, indices);
  if (id.getType() != i64)
    id = arith::ExtSIOp::create(b, loc, i64, id);
  Value low = loop.getRegionIterArgs()[0], high = loop.getRegionIterArgs()[1];
  scf::YieldOp::create(b, loc,
                       ValueRange{arith::MinSIOp::create(b, loc, low, id),
                                  arith::MaxSIOp::create(b, loc, high, id)});
  return {loop.getResult(0), loop.getResult(1)};
}

void DataTileClassifier::emitQueryRanges() {
  PartitionOp query = s.getQueryPartition();
  for (auto [read, varies] : llvm::enumerate(plan.varies)) {
    if (varies.empty())
      ranges[read] = emitRange(read, s.constantIndex(1));
    else if (varies == query.getInner())
      ranges[read] = emitRange(read, s.tileValid);
  }
}

DataTileClassifier::Class DataTileClassifier::emitStepClass(Value keyValid) {
  OpBuilder &b = s.b;
  Location loc = s.loc;
  PartitionOp key = s.getKeyPartition();
  SmallVector<std::pair<Value, Value>> current(ranges);
  for (auto [read, varies] : llvm::enumerate(plan.varies))
    if (varies == key.getInner())
      current[read] = emitRange(read, keyValid);
  EinsumOp reader = plan.reader;
  return buildDataCompareClass(b, loc, reader.getDataCompares(), current);
}

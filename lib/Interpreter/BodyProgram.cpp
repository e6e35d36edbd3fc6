//===- BodyProgram.cpp - Einsum bodies compiled for fast evaluation -------===//
//
// Flattens the scalar ops of an Einsum body into register instructions.
// Every value lives in a double: floats are evaluated in fp64 (casts between
// float types are exact), integers and indices are exact up to 2^53.
//
//===----------------------------------------------------------------------===//

#include "BodyProgram.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::cascade;

enum class BodyProgram::Opcode : uint8_t {
  Constant, Coordinate, Copy,
  AddF, SubF, MulF, DivF, RemF, NegF, MaximumF, MinimumF, MaxNumF, MinNumF,
  Exp, Exp2, ExpM1, Log, Log2, Log10, Log1p, Sqrt, Rsqrt, Tanh, AbsF, Erf,
  Sin, Cos, Tan, Sinh, Cosh, Asin, Acos, Atan, Atan2, Cbrt, Erfc,
  PowF, FPowI, Fma, Floor, Ceil, Round, RoundEven, Trunc, CopySign,
  IsNaN, IsInf, IsFinite,
  CmpF, CmpI, Select,
  AddI, SubI, MulI, DivSI, RemSI, FloorDivSI, CeilDivSI, MaxSI, MinSI,
  AndI, OrI, XOrI, ShLI, ShRSI, IPowI, FPToSI,
  DivUI, RemUI, CeilDivUI, MaxUI, MinUI, ShRUI, AbsI,
};

namespace {
using Opcode = BodyProgram::Opcode;

/// Ops whose fp64 meaning is the identity: casts and conversions.
bool isExactCast(Operation *op) {
  return isa<arith::ExtFOp, arith::TruncFOp, arith::IndexCastOp,
             arith::IndexCastUIOp, arith::SIToFPOp, arith::UIToFPOp,
             arith::ExtSIOp, arith::ExtUIOp, arith::TruncIOp>(op);
}

std::optional<Opcode> getOpcode(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<Opcode>>(op)
      .Case([](arith::AddFOp) { return Opcode::AddF; })
      .Case([](arith::SubFOp) { return Opcode::SubF; })
      .Case([](arith::MulFOp) { return Opcode::MulF; })
      .Case([](arith::DivFOp) { return Opcode::DivF; })
      .Case([](arith::RemFOp) { return Opcode::RemF; })
      .Case([](arith::NegFOp) { return Opcode::NegF; })
      .Case([](arith::MaximumFOp) { return Opcode::MaximumF; })
      .Case([](arith::MinimumFOp) { return Opcode::MinimumF; })
      .Case([](arith::MaxNumFOp) { return Opcode::MaxNumF; })
      .Case([](arith::MinNumFOp) { return Opcode::MinNumF; })
      .Case([](math::ExpOp) { return Opcode::Exp; })
      .Case([](math::Exp2Op) { return Opcode::Exp2; })
      .Case([](math::ExpM1Op) { return Opcode::ExpM1; })
      .Case([](math::LogOp) { return Opcode::Log; })
      .Case([](math::Log2Op) { return Opcode::Log2; })
      .Case([](math::Log10Op) { return Opcode::Log10; })
      .Case([](math::Log1pOp) { return Opcode::Log1p; })
      .Case([](math::SqrtOp) { return Opcode::Sqrt; })
      .Case([](math::RsqrtOp) { return Opcode::Rsqrt; })
      .Case([](math::TanhOp) { return Opcode::Tanh; })
      .Case([](math::AbsFOp) { return Opcode::AbsF; })
      .Case([](math::ErfOp) { return Opcode::Erf; })
      .Case([](math::SinOp) { return Opcode::Sin; })
      .Case([](math::CosOp) { return Opcode::Cos; })
      .Case([](math::TanOp) { return Opcode::Tan; })
      .Case([](math::SinhOp) { return Opcode::Sinh; })
      .Case([](math::CoshOp) { return Opcode::Cosh; })
      .Case([](math::AsinOp) { return Opcode::Asin; })
      .Case([](math::AcosOp) { return Opcode::Acos; })
      .Case([](math::AtanOp) { return Opcode::Atan; })
      .Case([](math::Atan2Op) { return Opcode::Atan2; })
      .Case([](math::CbrtOp) { return Opcode::Cbrt; })
      .Case([](math::ErfcOp) { return Opcode::Erfc; })
      .Case([](math::PowFOp) { return Opcode::PowF; })
      .Case([](math::FPowIOp) { return Opcode::FPowI; })
      .Case([](math::IPowIOp) { return Opcode::IPowI; })
      .Case([](math::RoundOp) { return Opcode::Round; })
      .Case([](math::RoundEvenOp) { return Opcode::RoundEven; })
      .Case([](math::TruncOp) { return Opcode::Trunc; })
      .Case([](math::IsNaNOp) { return Opcode::IsNaN; })
      .Case([](math::IsInfOp) { return Opcode::IsInf; })
      .Case([](math::IsFiniteOp) { return Opcode::IsFinite; })
      .Case([](arith::ShLIOp) { return Opcode::ShLI; })
      .Case([](arith::ShRUIOp) { return Opcode::ShRUI; })
      .Case([](arith::DivUIOp) { return Opcode::DivUI; })
      .Case([](arith::RemUIOp) { return Opcode::RemUI; })
      .Case([](arith::CeilDivUIOp) { return Opcode::CeilDivUI; })
      .Case([](arith::MaxUIOp) { return Opcode::MaxUI; })
      .Case([](arith::MinUIOp) { return Opcode::MinUI; })
      .Case([](math::AbsIOp) { return Opcode::AbsI; })
      .Case([](arith::FPToUIOp) { return Opcode::FPToSI; })
      .Case([](arith::ShRSIOp) { return Opcode::ShRSI; })
      .Case([](math::FmaOp) { return Opcode::Fma; })
      .Case([](math::FloorOp) { return Opcode::Floor; })
      .Case([](math::CeilOp) { return Opcode::Ceil; })
      .Case([](math::CopySignOp) { return Opcode::CopySign; })
      .Case([](arith::CmpFOp) { return Opcode::CmpF; })
      .Case([](arith::CmpIOp) { return Opcode::CmpI; })
      .Case([](arith::SelectOp) { return Opcode::Select; })
      .Case([](arith::AddIOp) { return Opcode::AddI; })
      .Case([](arith::SubIOp) { return Opcode::SubI; })
      .Case([](arith::MulIOp) { return Opcode::MulI; })
      .Case([](arith::DivSIOp) { return Opcode::DivSI; })
      .Case([](arith::RemSIOp) { return Opcode::RemSI; })
      .Case([](arith::FloorDivSIOp) { return Opcode::FloorDivSI; })
      .Case([](arith::CeilDivSIOp) { return Opcode::CeilDivSI; })
      .Case([](arith::MaxSIOp) { return Opcode::MaxSI; })
      .Case([](arith::MinSIOp) { return Opcode::MinSI; })
      .Case([](arith::AndIOp) { return Opcode::AndI; })
      .Case([](arith::OrIOp) { return Opcode::OrI; })
      .Case([](arith::XOrIOp) { return Opcode::XOrI; })
      .Case([](arith::FPToSIOp) { return Opcode::FPToSI; })
      .Default([](Operation *) { return std::nullopt; });
}

double evalCmpF(arith::CmpFPredicate predicate, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  using P = arith::CmpFPredicate;
  switch (predicate) {
  case P::AlwaysFalse: return 0;
  case P::OEQ: return !unordered && a == b;
  case P::OGT: return !unordered && a > b;
  case P::OGE: return !unordered && a >= b;
  case P::OLT: return !unordered && a < b;
  case P::OLE: return !unordered && a <= b;
  case P::ONE: return !unordered && a != b;
  case P::ORD: return !unordered;
  case P::UEQ: return unordered || a == b;
  case P::UGT: return unordered || a > b;
  case P::UGE: return unordered || a >= b;
  case P::ULT: return unordered || a < b;
  case P::ULE: return unordered || a <= b;
  case P::UNE: return unordered || a != b;
  case P::UNO: return unordered;
  case P::AlwaysTrue: return 1;
  }
  return 0;
}

} // namespace

FailureOr<BodyProgram>
BodyProgram::compile(EinsumOp einsum, const llvm::StringMap<int64_t> &extents) {
  BodyProgram program;
  Block &block = einsum.getBodyBlock();
  llvm::DenseMap<Value, int32_t> registers;
  program.numOperands = block.getNumArguments();
  for (BlockArgument arg : block.getArguments())
    registers[arg] = arg.getArgNumber();
  int32_t next = program.numOperands;

  for (Operation &op : block) {
    if (auto yield = dyn_cast<YieldOp>(op)) {
      program.resultRegister = registers.lookup(yield.getValues()[0]);
      break;
    }
    if (op.getNumResults() != 1)
      return op.emitError() << "'" << op.getName()
                            << "' has " << op.getNumResults()
                            << " results; the reference interpreter runs "
                               "single-result body ops";
    Instruction instruction;
    auto operandRegister = [&](unsigned i) {
      return registers.lookup(op.getOperand(i));
    };
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      instruction.opcode = Opcode::Constant;
      if (auto floatAttr = dyn_cast<FloatAttr>(constant.getValue()))
        instruction.immediate = floatAttr.getValueAsDouble();
      else if (auto intAttr = dyn_cast<IntegerAttr>(constant.getValue()))
        // Each branch converts on its own: in one conditional expression
        // the int64_t would convert to uint64_t first (-1 -> 2^64 - 1).
        instruction.immediate =
            intAttr.getType().isInteger(1)
                ? static_cast<double>(intAttr.getValue().getZExtValue())
                : static_cast<double>(intAttr.getValue().getSExtValue());
      else
        return op.emitError("the reference interpreter supports scalar "
                            "constants only");
    } else if (auto index = dyn_cast<IndexOp>(op)) {
      instruction.opcode = Opcode::Coordinate;
      instruction.a = einsum.getRankPosition(index.getRank());
    } else if (auto extent = dyn_cast<ExtentOp>(op)) {
      instruction.opcode = Opcode::Constant;
      auto it = extents.find(extent.getRank());
      if (it == extents.end())
        return op.emitError() << "the extent of rank '" << extent.getRank()
                              << "' is not known at run time";
      instruction.immediate = static_cast<double>(it->second);
    } else if (isExactCast(&op)) {
      instruction.opcode = Opcode::Copy;
      instruction.a = operandRegister(0);
    } else if (std::optional<Opcode> opcode = getOpcode(&op)) {
      instruction.opcode = *opcode;
      if (op.getNumOperands() > 0) instruction.a = operandRegister(0);
      if (op.getNumOperands() > 1) instruction.b = operandRegister(1);
      if (op.getNumOperands() > 2) instruction.c = operandRegister(2);
      if (auto cmp = dyn_cast<arith::CmpFOp>(op))
        instruction.predicate = static_cast<uint8_t>(cmp.getPredicate());
      if (auto cmp = dyn_cast<arith::CmpIOp>(op))
        instruction.predicate = static_cast<uint8_t>(cmp.getPredicate());
    } else {
      return op.emitError() << "'" << op.getName()
                            << "' is not supported by the reference "
                               "interpreter";
    }
    registers[op.getResult(0)] = next++;
    program.instructions.push_back(instruction);
  }
  program.numRegisters = next;
  return program;
}

/// A register as an integer: exact for the integers integer ops see; a
/// float operand (read but unused by a float op) may be NaN or infinite,
/// whose plain conversion is undefined behaviour, so it saturates (NaN: 0),
/// which is also what fptosi gives out-of-range values here.
static int64_t toInteger(double x) {
  if (std::isnan(x))
    return 0;
  if (x >= 9223372036854775807.0)
    return std::numeric_limits<int64_t>::max();
  if (x <= -9223372036854775808.0)
    return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(x);
}

double BodyProgram::run(const double *operands, const int64_t *coordinates,
                        double *r) const {
  for (unsigned i = 0; i < numOperands; ++i)
    r[i] = operands[i];
  int32_t out = numOperands;
  for (const Instruction &in : instructions) {
    double a = r[in.a], b = r[in.b];
    int64_t ia = toInteger(a), ib = toInteger(b);
    double v = 0.0;
    switch (in.opcode) {
    case Opcode::Constant: v = in.immediate; break;
    case Opcode::Coordinate: v = static_cast<double>(coordinates[in.a]); break;
    case Opcode::Copy: v = a; break;
    case Opcode::AddF: v = a + b; break;
    case Opcode::SubF: v = a - b; break;
    case Opcode::MulF: v = a * b; break;
    case Opcode::DivF: v = a / b; break;
    case Opcode::RemF: v = std::fmod(a, b); break;
    case Opcode::NegF: v = -a; break;
    case Opcode::MaximumF: v = combineReduce(ReduceKind::max, a, b); break;
    case Opcode::MinimumF: v = combineReduce(ReduceKind::min, a, b); break;
    case Opcode::MaxNumF: v = std::fmax(a, b); break;
    case Opcode::MinNumF: v = std::fmin(a, b); break;
    case Opcode::Exp: v = std::exp(a); break;
    case Opcode::Exp2: v = std::exp2(a); break;
    case Opcode::ExpM1: v = std::expm1(a); break;
    case Opcode::Log: v = std::log(a); break;
    case Opcode::Log2: v = std::log2(a); break;
    case Opcode::Log10: v = std::log10(a); break;
    case Opcode::Log1p: v = std::log1p(a); break;
    case Opcode::Sqrt: v = std::sqrt(a); break;
    case Opcode::Rsqrt: v = 1.0 / std::sqrt(a); break;
    case Opcode::Tanh: v = std::tanh(a); break;
    case Opcode::AbsF: v = std::fabs(a); break;
    case Opcode::Erf: v = std::erf(a); break;
    case Opcode::Sin: v = std::sin(a); break;
    case Opcode::Cos: v = std::cos(a); break;
    case Opcode::Tan: v = std::tan(a); break;
    case Opcode::Sinh: v = std::sinh(a); break;
    case Opcode::Cosh: v = std::cosh(a); break;
    case Opcode::Asin: v = std::asin(a); break;
    case Opcode::Acos: v = std::acos(a); break;
    case Opcode::Atan: v = std::atan(a); break;
    case Opcode::Atan2: v = std::atan2(a, b); break;
    case Opcode::Cbrt: v = std::cbrt(a); break;
    case Opcode::Erfc: v = std::erfc(a); break;
    case Opcode::PowF: v = std::pow(a, b); break;
    case Opcode::FPowI: v = std::pow(a, static_cast<double>(ib)); break;
    case Opcode::IPowI:
      // Integer power truncates: a negative exponent leaves 0 unless |a| = 1.
      if (ib >= 0)
        v = std::round(std::pow(static_cast<double>(ia), static_cast<double>(ib)));
      else
        v = ia == 1 ? 1.0 : ia == -1 ? (ib % 2 ? -1.0 : 1.0) : 0.0;
      break;
    case Opcode::Round: v = std::round(a); break;
    case Opcode::RoundEven: v = std::nearbyint(a); break;
    case Opcode::Trunc: v = std::trunc(a); break;
    case Opcode::IsNaN: v = std::isnan(a); break;
    case Opcode::IsInf: v = std::isinf(a); break;
    case Opcode::IsFinite: v = std::isfinite(a); break;
    // Shifts by a negative amount or by the width or more are poison in
    // arith (and undefined in C++): NaN, so that comparisons flag them.
    case Opcode::ShLI:
      v = ib < 0 || ib > 62 ? NAN : static_cast<double>(ia) * std::ldexp(1.0, ib);
      break;
    // Unsigned operations on the non-negative values bodies compute with
    // (coordinates, extents); integers are exact, without wrap-around.
    case Opcode::DivUI: v = ib ? static_cast<double>(ia / ib) : NAN; break;
    case Opcode::RemUI: v = ib ? static_cast<double>(ia % ib) : NAN; break;
    case Opcode::CeilDivUI:
      v = ib ? static_cast<double>(ia / ib + (ia % ib != 0 && ia > 0)) : NAN;
      break;
    case Opcode::MaxUI: v = static_cast<double>(std::max(ia, ib)); break;
    case Opcode::MinUI: v = static_cast<double>(std::min(ia, ib)); break;
    case Opcode::ShRUI:
      v = ib < 0 || ib > 63 ? NAN
                            : static_cast<double>(static_cast<uint64_t>(ia) >> ib);
      break;
    case Opcode::AbsI: v = std::fabs(a); break;
    case Opcode::ShRSI:
      v = ib < 0 || ib > 63 ? NAN : static_cast<double>(ia >> ib);
      break;
    case Opcode::Fma: v = std::fma(a, b, r[in.c]); break;
    case Opcode::Floor: v = std::floor(a); break;
    case Opcode::Ceil: v = std::ceil(a); break;
    case Opcode::CopySign: v = std::copysign(a, b); break;
    case Opcode::CmpF:
      v = evalCmpF(static_cast<arith::CmpFPredicate>(in.predicate), a, b);
      break;
    case Opcode::CmpI:
      v = compareIntegers(static_cast<arith::CmpIPredicate>(in.predicate), ia,
                          ib);
      break;
    case Opcode::Select: v = a != 0.0 ? b : r[in.c]; break;
    // Integers are held as doubles: exact below 2^53, and no int64
    // overflow (undefined in C++) on the way.
    case Opcode::AddI: v = a + b; break;
    case Opcode::SubI: v = a - b; break;
    case Opcode::MulI: v = a * b; break;
    // Division by zero is undefined in arith; the oracle yields NaN so that
    // comparisons flag it instead of crashing.
    case Opcode::DivSI:
      v = ib && !(ib == -1 && ia == std::numeric_limits<int64_t>::min())
              ? static_cast<double>(ia / ib)
              : NAN;
      break;
    case Opcode::RemSI: v = ib && ib != -1 ? static_cast<double>(ia % ib) : (ib ? 0.0 : NAN); break;
    case Opcode::FloorDivSI:
      v = ib ? static_cast<double>(llvm::divideFloorSigned(ia, ib)) : NAN;
      break;
    case Opcode::CeilDivSI:
      v = ib ? static_cast<double>(llvm::divideCeilSigned(ia, ib)) : NAN;
      break;
    case Opcode::MaxSI: v = static_cast<double>(std::max(ia, ib)); break;
    case Opcode::MinSI: v = static_cast<double>(std::min(ia, ib)); break;
    case Opcode::AndI: v = static_cast<double>(ia & ib); break;
    case Opcode::OrI: v = static_cast<double>(ia | ib); break;
    case Opcode::XOrI: v = static_cast<double>(ia ^ ib); break;
    case Opcode::FPToSI: v = std::trunc(a); break;
    }
    r[out++] = v;
  }
  return r[resultRegister];
}

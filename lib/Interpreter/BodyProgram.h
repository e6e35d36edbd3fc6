//===- BodyProgram.h - Einsum bodies compiled for fast evaluation -*- C++ -*-===//
//
// An Einsum body runs once per point of its iteration space, millions of
// times; walking MLIR ops each time would dominate. A BodyProgram is the
// body flattened once into register instructions over fp64.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_LIB_INTERPRETER_BODYPROGRAM_H
#define CASCADE_LIB_INTERPRETER_BODYPROGRAM_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include "llvm/ADT/StringMap.h"

#include <vector>

namespace mlir::cascade {

class BodyProgram {
public:
  /// Compiles the body of `einsum`. Fails, with an error at the offending
  /// op, on ops the interpreter does not implement. `extents` gives the
  /// values of cascade.extent ops.
  static FailureOr<BodyProgram> compile(EinsumOp einsum,
                                        const llvm::StringMap<int64_t> &extents);

  /// Runs the program: `operands` holds one element per Einsum operand,
  /// `coordinates` one coordinate per entry of the Einsum's `ranks`.
  /// `scratch` must hold getNumRegisters() doubles.
  double run(const double *operands, const int64_t *coordinates,
             double *scratch) const;
  unsigned getNumRegisters() const { return numRegisters; }

  enum class Opcode : uint8_t;
  struct Instruction {
    Opcode opcode;
    uint8_t predicate = 0;
    int32_t a = 0, b = 0, c = 0;
    double immediate = 0.0;
  };

private:
  std::vector<Instruction> instructions;
  unsigned numOperands = 0;
  unsigned numRegisters = 0;
  int32_t resultRegister = 0;
};

} // namespace mlir::cascade

#endif // CASCADE_LIB_INTERPRETER_BODYPROGRAM_H

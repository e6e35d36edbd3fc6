//===- Emulator.cpp - Run a GPU kernel's IR on the CPU -------------------===//
//
// One block at a time; inside a block every op runs for all its active
// threads before the next op (lock-step), each SSA value holding one
// element list per thread (a scalar: one element; a vector: its elements
// flattened row-major, as nvgpu's fragment types hold them). Integers are
// held as doubles (exact below 2^53, far above any index a kernel forms)
// and wrapped to their width on every result. Divergence is a mask of
// active threads: scf.if runs each branch under its part of the mask.
//
//===----------------------------------------------------------------------===//

#include "cascade/Target/GPU/Emulator.h"
#include "cascade/Target/GPU/TensorMap.h"
#include "cascade/Target/GPU/TmaSemantics.h"
#include "cascade/Target/GPU/WarpSemantics.h"
#include "cascade/Target/GPU/WarpgroupSemantics.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/ADT/TypeSwitch.h"

#include <map>
#include <set>


#include <cmath>
#include <unordered_map>

using namespace mlir;
using namespace mlir::cascade::gpu;
using mlir::cascade::kTensorMapAttrName;

namespace {

/// Lanes of a warp (NVGPUDialect.h has a kWarpSize of its own).
constexpr unsigned kLanes = mlir::cascade::gpu::kWarpSize;

using ThreadValue = SmallVector<double, 8>;
using Mask = std::vector<char>;

/// Elements of `type` (1 for a scalar; an LLVM struct of scalars, as
/// wgmma's accumulators, holds its fields in order).
int64_t getNumElements(Type type) {
  if (auto vector = dyn_cast<VectorType>(type))
    return vector.getNumElements();
  if (auto structType = dyn_cast<LLVM::LLVMStructType>(type))
    return structType.getBody().size();
  return 1;
}

/// `x` as a value of element type `type` holds it.
double normalize(double x, Type type) {
  // Pointers hold their address (or a tensor map's handle).
  if (isa<LLVM::LLVMPointerType>(type))
    return x;
  // Tokens (cp.async groups) and other non-numbers carry no value.
  if (!type.isIntOrIndexOrFloat())
    return 0;
  if (type.isF16())
    return roundToHalf(static_cast<float>(x), HalfType::F16);
  if (type.isBF16())
    return roundToHalf(static_cast<float>(x), HalfType::BF16);
  if (type.isF32())
    return static_cast<float>(x);
  if (isa<FloatType>(type))
    return x;
  unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
  if (width == 1)
    return x != 0 ? 1 : 0;
  if (std::isnan(x))
    return 0;
  int64_t value = static_cast<int64_t>(x);
  if (width < 64) {
    uint64_t mask = (uint64_t(1) << width) - 1;
    uint64_t low = static_cast<uint64_t>(value) & mask;
    // Signless integers are held as their two's-complement value.
    if (low >> (width - 1))
      value = static_cast<int64_t>(low | ~mask);
    else
      value = static_cast<int64_t>(low);
  }
  return static_cast<double>(value);
}

/// The unsigned reading of an integer of `type` held as `x`.
uint64_t asUnsigned(double x, Type type) {
  unsigned width = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
  uint64_t bits = static_cast<uint64_t>(static_cast<int64_t>(x));
  return width < 64 ? bits & ((uint64_t(1) << width) - 1) : bits;
}

/// A memref as the kernel sees it: row-major over `shape`.
struct MemrefView {
  double *data = nullptr;
  Type elementType;
  SmallVector<int64_t> shape;
  /// Index of the block's shared buffer (races are tracked), or -1.
  int shared = -1;
  std::string name;
  /// gpu.dynamic_shared_memory's bytes: read through memref.view only
  /// (no data of its own).
  bool dynamicShared = false;
};

/// Shared memory of one block, with who touched each element since the
/// last barrier (-1: nobody; -2 for readers: several threads).
struct SharedBuffer {
  std::vector<double> data;
  std::vector<int64_t> writer, writeEpoch, reader, readEpoch;
  /// cp.async copies issued into each element and not yet waited for.
  std::vector<int32_t> inFlight;
  /// The thread whose store (or landed cp.async) into each element went
  /// through the generic proxy with no fence.proxy.async by that thread
  /// since (-1: none): the async proxy (wgmma) may not see it yet.
  std::vector<int32_t> genericWriter;
  /// wgmma.mma_async operations in flight that read each element.
  std::vector<int32_t> asyncReads;
  /// The mbarrier (shared address; -1: none) of the last TMA copy into
  /// each element, and the phase of it that copy completes: a thread may
  /// read the element once it has seen that phase complete.
  std::vector<int64_t> tmaBarrier, tmaPhase;
  explicit SharedBuffer(int64_t size)
      : data(size, 0.0), writer(size, -1), writeEpoch(size, -1),
        reader(size, -1), readEpoch(size, -1), inFlight(size, 0),
        genericWriter(size, -1), asyncReads(size, 0), tmaBarrier(size, -1),
        tmaPhase(size, 0) {}
};

/// Where a shared buffer (a workgroup attribution, or a view of dynamic
/// shared memory) lies in the block's shared window, for the addresses
/// wgmma descriptors, TMA and mbarriers carry.
struct WindowRange {
  uint32_t start = 0, bytes = 0;
  unsigned elementBytes = 2;
  /// The buffer's memref (a workgroup attribution or a memref.view).
  Value memref;
};

/// One committed or open wgmma.mma_async of the block: the accumulator it
/// defines (unreadable until a wait retires it) and the shared elements it
/// reads (unwritable until then).
struct PendingWgmma {
  Value result;
  std::vector<std::pair<int, int64_t>> reads;
};

/// One cp.async of one thread, issued but not complete: its source was
/// read when it was issued (global memory does not change during a
/// kernel); it lands in shared memory when a wait retires its group.
struct PendingCopy {
  Operation *op = nullptr;
  /// The destination memref (looked up when the copy lands: views live in
  /// a map that may grow meanwhile).
  Value dst;
  int64_t to = 0;
  SmallVector<double, 8> values;
};

/// A thread's copies: the group being formed, and the committed groups,
/// oldest first.
struct AsyncCopies {
  std::vector<PendingCopy> open;
  std::vector<std::vector<PendingCopy>> committed;
};

class BlockRun {
public:
  BlockRun(mlir::gpu::GPUFuncOp kernel, const LaunchGeometry &geometry,
           std::array<int64_t, 3> blockId,
           MutableArrayRef<EmulatorArgument> arguments,
           EmulatorStatistics &statistics)
      : kernel(kernel), geometry(geometry), blockId(blockId),
        arguments(arguments), statistics(statistics),
        numThreads(geometry.block[0] * geometry.block[1] *
                   geometry.block[2]) {}

  LogicalResult run();

private:
  LogicalResult runBlock(Block &block, const Mask &active,
                         SmallVectorImpl<std::vector<ThreadValue>> *yielded);
  LogicalResult runOp(Operation *op, const Mask &active);
  LogicalResult runFor(scf::ForOp op, const Mask &active);
  LogicalResult runIf(scf::IfOp op, const Mask &active);
  LogicalResult runShuffle(mlir::gpu::ShuffleOp op, const Mask &active);
  LogicalResult runLdmatrix(nvgpu::LdMatrixOp op, const Mask &active);
  LogicalResult runMma(nvgpu::MmaSyncOp op, const Mask &active);
  LogicalResult runAsyncCopy(nvgpu::DeviceAsyncCopyOp op, const Mask &active);
  LogicalResult runWgmma(NVVM::WgmmaMmaAsyncOp op, const Mask &active);
  LogicalResult runTma(NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp op,
                       const Mask &active);
  LogicalResult runView(memref::ViewOp op, const Mask &active);
  /// The initialised mbarrier thread `thread`'s `pointer` operand of `op`
  /// points at.
  FailureOr<Mbarrier *> getMbarrier(Operation *op, Value pointer,
                                    unsigned thread, bool mustBeInitialized);
  /// The attribution and element of shared address `address` holding an
  /// element of `bytes` bytes; fails with `what` when none does.
  FailureOr<std::pair<unsigned, int64_t>>
  resolveShared(Operation *op, uint32_t address, unsigned bytes,
                unsigned thread, StringRef what);
  LogicalResult runLlvmOp(Operation *op, const Mask &active);
  /// Fails when `op` reads an accumulator of a wgmma in flight.
  LogicalResult checkAsyncOperands(Operation *op);

  /// Applies `fn` element by element (operands of one element broadcast).
  LogicalResult elementwise(Operation *op, const Mask &active,
                            function_ref<double(ArrayRef<double>)> fn);
  LogicalResult setUniform(Value result, const Mask &active, double value);

  /// The element of `view` at thread `thread`'s `indices` (operands of
  /// `op`), checked against the shape; reads and writes are checked for
  /// races in shared memory.
  FailureOr<int64_t> locate(Operation *op, const MemrefView &view,
                            ValueRange indices, unsigned thread);
  LogicalResult noteRead(Operation *op, const MemrefView &view, int64_t at,
                         unsigned thread);
  LogicalResult noteWrite(Operation *op, const MemrefView &view, int64_t at,
                          unsigned thread);
  /// A generic-proxy store of `value` by `thread` to element `at` of
  /// `view`: the race check, the writer the async proxy must see fenced,
  /// the value in the element's type.
  LogicalResult storeElement(Operation *op, MemrefView &view, int64_t at,
                             unsigned thread, double value);
  FailureOr<MemrefView *> getView(Operation *op, Value memref);

  /// "block (x, y, z) thread t" for messages.
  std::string where(unsigned thread) const;
  /// Fails unless every thread of every warp `op` touches is active.
  LogicalResult requireWholeWarps(Operation *op, const Mask &active,
                                  StringRef what, unsigned size = kLanes);

  std::vector<ThreadValue> &slot(Value value) {
    auto &values = this->values[value];
    values.resize(numThreads);
    return values;
  }
  const ThreadValue &get(Value value, unsigned thread) {
    return slot(value)[thread];
  }

  mlir::gpu::GPUFuncOp kernel;
  const LaunchGeometry &geometry;
  std::array<int64_t, 3> blockId;
  MutableArrayRef<EmulatorArgument> arguments;
  EmulatorStatistics &statistics;
  unsigned numThreads;
  /// Every value's per-thread registers. A node map: `slot` hands out
  /// references that must survive later insertions (a DenseMap rehash
  /// would move them).
  struct ValueHash {
    size_t operator()(Value value) const { return hash_value(value); }
  };
  std::unordered_map<Value, std::vector<ThreadValue>, ValueHash> values;
  DenseMap<Value, MemrefView> views;
  std::vector<SharedBuffer> shared;
  int64_t epoch = 0;
  /// Per thread: cp.async copies not yet landed.
  std::vector<AsyncCopies> asyncCopies;
  /// Lands thread `t`'s committed groups but the `keep` most recent.
  LogicalResult retireGroups(Operation *op, unsigned t, int64_t keep);

  /// The shared window: shared buffer i at window[i]; the workgroup
  /// attributions first (the first at 1024, past the 1 KiB the hardware
  /// reserves per block on sm_80 and later), then the views of dynamic
  /// shared memory in the order they were made.
  std::vector<WindowRange> window;
  /// Where dynamic shared memory starts: 16 bytes past a 1024-byte
  /// boundary after the attributions. PTX promises the declaration's
  /// `.align 16` and no more, so a kernel that assumes more (the 128-byte
  /// swizzle repeats every 1024) goes wrong here rather than by luck on a
  /// GPU.
  uint32_t dynamicBase = 0;
  /// Exact 64-bit values per thread (values are held as double, exact
  /// below 2^53 only): the wgmma descriptors, built by llvm.bitcast of
  /// two i32, which nothing else may read (checked at the bitcast).
  std::unordered_map<Value, std::vector<uint64_t>, ValueHash> bits64;
  /// wgmma.mma_async: whether a wgmma.fence ran since the last wait, the
  /// open group and the committed ones (oldest first), and the
  /// accumulators not yet retired.
  bool wgmmaFenced = false;
  std::vector<PendingWgmma> openWgmma;
  std::vector<std::vector<PendingWgmma>> committedWgmma;
  DenseSet<Value> pendingAccumulators;
  /// The tensor maps of the arguments, by the handle their pointer holds.
  DenseMap<int64_t, const EmulatorTensorMap *> tensorMaps;
  /// The mbarriers by shared address, and per (address, thread) the phases
  /// the thread has seen complete (by try_wait).
  std::map<uint32_t, Mbarrier> mbarriers;
  std::map<std::pair<uint32_t, unsigned>, int64_t> observedPhases;
};

/// What a tensor-map argument's pointer holds: a handle past any shared
/// address.
constexpr int64_t kTensorMapHandleBase = int64_t(1) << 40;

std::string BlockRun::where(unsigned thread) const {
  return "block (" + std::to_string(blockId[0]) + ", " +
         std::to_string(blockId[1]) + ", " + std::to_string(blockId[2]) +
         ") thread " + std::to_string(thread);
}

LogicalResult BlockRun::requireWholeWarps(Operation *op, const Mask &active,
                                          StringRef what, unsigned size) {
  StringRef group = size == kLanes ? "warp" : "warpgroup";
  for (unsigned warp = 0; warp * size < numThreads; ++warp) {
    bool any = false, all = true;
    for (unsigned lane = 0; lane < size; ++lane) {
      unsigned thread = warp * size + lane;
      bool on = thread < numThreads && active[thread];
      any |= on;
      all &= on;
    }
    if (any && !all)
      return op->emitError() << what << " under divergent control flow: "
                             << group << " " << warp << " of block ("
                             << blockId[0] << ", " << blockId[1] << ", "
                             << blockId[2] << ") is not whole";
  }
  return success();
}

FailureOr<MemrefView *> BlockRun::getView(Operation *op, Value memref) {
  auto it = views.find(memref);
  if (it == views.end())
    return op->emitError("the emulator does not model where this memref "
                         "comes from (kernel arguments, workgroup "
                         "attributions and views of dynamic shared memory "
                         "only)");
  if (it->second.dynamicShared)
    return op->emitError("the emulator reads dynamic shared memory through "
                         "a memref.view of a static shape only");
  return &it->second;
}

FailureOr<int64_t> BlockRun::locate(Operation *op, const MemrefView &view,
                                    ValueRange indices, unsigned thread) {
  int64_t at = 0;
  for (auto [dim, index] : llvm::enumerate(indices)) {
    int64_t i = static_cast<int64_t>(get(index, thread)[0]);
    if (i < 0 || i >= view.shape[dim])
      return op->emitError() << where(thread) << ": index " << i
                             << " of dimension " << dim << " is outside "
                             << view.name << " (size " << view.shape[dim]
                             << ")";
    at = at * view.shape[dim] + i;
  }
  return at;
}

LogicalResult BlockRun::noteRead(Operation *op, const MemrefView &view,
                                 int64_t at, unsigned thread) {
  if (view.shared < 0)
    return success();
  SharedBuffer &buffer = shared[view.shared];
  if (buffer.inFlight[at] > 0)
    return op->emitError() << where(thread) << " reads element " << at
                           << " of " << view.name
                           << " while a cp.async into it has not completed "
                              "(no nvgpu.device_async_wait retired its group)";
  if (buffer.tmaBarrier[at] >= 0) {
    auto seen = observedPhases.find(
        {static_cast<uint32_t>(buffer.tmaBarrier[at]), thread});
    int64_t observed = seen == observedPhases.end() ? 0 : seen->second;
    if (observed <= buffer.tmaPhase[at])
      return op->emitError()
             << where(thread) << " reads element " << at << " of "
             << view.name
             << " that a TMA copy writes, before it saw phase "
             << buffer.tmaPhase[at] << " of the mbarrier at shared address "
             << buffer.tmaBarrier[at]
             << " complete (nvvm.mbarrier.try_wait.parity)";
  }
  if (buffer.writeEpoch[at] == epoch && buffer.writer[at] != thread)
    return op->emitError() << where(thread) << " reads element " << at
                           << " of " << view.name << " that thread "
                           << buffer.writer[at]
                           << " wrote since the last gpu.barrier (a race)";
  if (buffer.readEpoch[at] != epoch) {
    buffer.readEpoch[at] = epoch;
    buffer.reader[at] = thread;
  } else if (buffer.reader[at] != thread) {
    buffer.reader[at] = -2;
  }
  return success();
}

LogicalResult BlockRun::noteWrite(Operation *op, const MemrefView &view,
                                  int64_t at, unsigned thread) {
  if (view.shared < 0)
    return success();
  SharedBuffer &buffer = shared[view.shared];
  if (buffer.asyncReads[at] > 0)
    return op->emitError() << where(thread) << " writes element " << at
                           << " of " << view.name
                           << " that a wgmma.mma_async in flight reads (no "
                              "nvvm.wgmma.wait.group.sync.aligned retired it)";
  if (buffer.writeEpoch[at] == epoch && buffer.writer[at] != thread)
    return op->emitError() << where(thread) << " writes element " << at
                           << " of " << view.name << " that thread "
                           << buffer.writer[at]
                           << " wrote since the last gpu.barrier (a race)";
  if (buffer.readEpoch[at] == epoch && buffer.reader[at] != thread)
    return op->emitError() << where(thread) << " writes element " << at
                           << " of " << view.name << " that "
                           << (buffer.reader[at] == -2
                                   ? std::string("other threads")
                                   : "thread " +
                                         std::to_string(buffer.reader[at]))
                           << " read since the last gpu.barrier (a race)";
  buffer.writeEpoch[at] = epoch;
  buffer.writer[at] = thread;
  return success();
}

LogicalResult BlockRun::storeElement(Operation *op, MemrefView &view,
                                     int64_t at, unsigned thread,
                                     double value) {
  if (failed(noteWrite(op, view, at, thread)))
    return failure();
  if (view.shared >= 0)
    shared[view.shared].genericWriter[at] = static_cast<int32_t>(thread);
  view.data[at] = normalize(value, view.elementType);
  return success();
}

LogicalResult BlockRun::setUniform(Value result, const Mask &active,
                                   double value) {
  auto &out = slot(result);
  for (unsigned t = 0; t < numThreads; ++t)
    if (active[t])
      out[t] = {normalize(value, result.getType())};
  return success();
}

LogicalResult
BlockRun::elementwise(Operation *op, const Mask &active,
                      function_ref<double(ArrayRef<double>)> fn) {
  Value result = op->getResult(0);
  Type elementType = getElementTypeOrSelf(result.getType());
  int64_t count = getNumElements(result.getType());
  auto &out = slot(result);
  SmallVector<double, 4> args(op->getNumOperands());
  for (unsigned t = 0; t < numThreads; ++t) {
    if (!active[t])
      continue;
    ThreadValue value(count);
    for (int64_t i = 0; i < count; ++i) {
      for (auto [k, operand] : llvm::enumerate(op->getOperands())) {
        const ThreadValue &in = get(operand, t);
        args[k] = in.size() == 1 ? in[0] : in[i];
      }
      value[i] = normalize(fn(args), elementType);
    }
    out[t] = std::move(value);
  }
  return success();
}

bool compareFloats(arith::CmpFPredicate predicate, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  switch (predicate) {
  case arith::CmpFPredicate::AlwaysFalse: return false;
  case arith::CmpFPredicate::AlwaysTrue: return true;
  case arith::CmpFPredicate::OEQ: return !unordered && a == b;
  case arith::CmpFPredicate::OGT: return !unordered && a > b;
  case arith::CmpFPredicate::OGE: return !unordered && a >= b;
  case arith::CmpFPredicate::OLT: return !unordered && a < b;
  case arith::CmpFPredicate::OLE: return !unordered && a <= b;
  case arith::CmpFPredicate::ONE: return !unordered && a != b;
  case arith::CmpFPredicate::ORD: return !unordered;
  case arith::CmpFPredicate::UEQ: return unordered || a == b;
  case arith::CmpFPredicate::UGT: return unordered || a > b;
  case arith::CmpFPredicate::UGE: return unordered || a >= b;
  case arith::CmpFPredicate::ULT: return unordered || a < b;
  case arith::CmpFPredicate::ULE: return unordered || a <= b;
  case arith::CmpFPredicate::UNE: return unordered || a != b;
  case arith::CmpFPredicate::UNO: return unordered;
  }
  return false;
}

bool compareIntegers(arith::CmpIPredicate predicate, double a, double b,
                     Type type) {
  uint64_t ua = asUnsigned(a, type), ub = asUnsigned(b, type);
  switch (predicate) {
  case arith::CmpIPredicate::eq: return a == b;
  case arith::CmpIPredicate::ne: return a != b;
  case arith::CmpIPredicate::slt: return a < b;
  case arith::CmpIPredicate::sle: return a <= b;
  case arith::CmpIPredicate::sgt: return a > b;
  case arith::CmpIPredicate::sge: return a >= b;
  case arith::CmpIPredicate::ult: return ua < ub;
  case arith::CmpIPredicate::ule: return ua <= ub;
  case arith::CmpIPredicate::ugt: return ua > ub;
  case arith::CmpIPredicate::uge: return ua >= ub;
  }
  return false;
}

int64_t asInt(double x) { return static_cast<int64_t>(x); }

/// IEEE maximum / minimum (NaN propagates) and maxnum / minnum (NaN loses).
double maximum(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
}
double minimum(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
}

LogicalResult BlockRun::run() {
  if (!kernel.getBody().hasOneBlock())
    return kernel.emitError("the emulator runs kernels of one block (use "
                            "scf, not cf)");
  if (!kernel.getPrivateAttributions().empty())
    return kernel.emitError("the emulator does not model private "
                            "attributions");
  Block &body = kernel.getBody().front();
  Mask all(numThreads, 1);
  for (auto [i, type] : llvm::enumerate(kernel.getArgumentTypes())) {
    BlockArgument arg = body.getArgument(i);
    EmulatorArgument &given = arguments[i];
    if (auto memref = dyn_cast<MemRefType>(type)) {
      if (!given.buffer)
        return kernel.emitError() << "argument #" << i
                                  << " is a memref but no buffer is given";
      if (!memref.getLayout().isIdentity())
        return kernel.emitError() << "argument #" << i
                                  << " has a non-identity layout, which the "
                                     "emulator does not model";
      EmulatorBuffer &buffer = *given.buffer;
      if (buffer.shape.size() != static_cast<size_t>(memref.getRank()))
        return kernel.emitError() << "argument #" << i << " has rank "
                                  << memref.getRank() << " but its buffer "
                                  << buffer.shape.size();
      int64_t size = 1;
      for (auto [dim, extent] : llvm::enumerate(memref.getShape())) {
        if (!ShapedType::isDynamic(extent) && extent != buffer.shape[dim])
          return kernel.emitError()
                 << "argument #" << i << " has size " << extent
                 << " in dimension " << dim << " but its buffer "
                 << buffer.shape[dim];
        size *= buffer.shape[dim];
      }
      if (static_cast<int64_t>(buffer.data.size()) != size)
        return kernel.emitError() << "the buffer of argument #" << i
                                  << " holds " << buffer.data.size()
                                  << " elements, not " << size;
      views[arg] = {buffer.data.data(), memref.getElementType(),
                    buffer.shape, -1, "argument #" + std::to_string(i)};
      continue;
    }
    // Tensor maps are checked below, against their parameters.
    if (isa<LLVM::LLVMPointerType>(type) &&
        kernel.getArgAttr(i, kTensorMapAttrName))
      continue;
    if (!type.isIntOrIndexOrFloat())
      return kernel.emitError() << "argument #" << i
                                << " has a type the emulator does not model";
    (void)setUniform(arg, all, given.scalar);
  }
  FailureOr<SmallVector<TensorMapParameter>> tensorMapParameters =
      getTensorMapParameters(kernel);
  if (failed(tensorMapParameters))
    return failure();
  for (const TensorMapParameter &parameter : *tensorMapParameters) {
    unsigned i = parameter.argument;
    const EmulatorTensorMap *map = arguments[i].tensorMap;
    if (!map || !map->buffer)
      return kernel.emitError() << "argument #" << i
                                << " is a tensor map but none is given";
    if (map->buffer != arguments[parameter.operand].buffer)
      return kernel.emitError()
             << "the tensor map of argument #" << i
             << " describes another buffer than operand #"
             << parameter.operand << "'s";
    if (ArrayRef<int64_t>(map->box) != ArrayRef<int64_t>(parameter.box) ||
        map->swizzleBytes != parameter.swizzleBytes)
      return kernel.emitError()
             << "the tensor map of argument #" << i
             << " has another box or swizzle than the kernel's "
             << kTensorMapAttrName << " says";
    int64_t handle = kTensorMapHandleBase + i;
    tensorMaps[handle] = map;
    (void)setUniform(body.getArgument(i), all, static_cast<double>(handle));
  }
  for (auto [i, attribution] :
       llvm::enumerate(kernel.getWorkgroupAttributions())) {
    auto memref = cast<MemRefType>(attribution.getType());
    if (!memref.hasStaticShape() || !memref.getLayout().isIdentity())
      return kernel.emitError("a workgroup attribution must have a static "
                              "shape and the identity layout");
    shared.emplace_back(memref.getNumElements());
    views[attribution] = {shared.back().data.data(), memref.getElementType(),
                          SmallVector<int64_t>(memref.getShape()),
                          static_cast<int>(i),
                          "workgroup attribution #" + std::to_string(i)};
    // Each attribution at the next multiple of its llvm.align (16 bytes
    // without one), as the PTX .shared declarations place them.
    uint32_t align = 16;
    if (auto attr = kernel.getWorkgroupAttributionAttr(i, "llvm.align"))
      if (auto value = dyn_cast<IntegerAttr>(attr))
        align = static_cast<uint32_t>(std::max<int64_t>(value.getInt(), 1));
    uint32_t next = window.empty() ? 1024
                                   : window.back().start + window.back().bytes;
    WindowRange range;
    range.elementBytes =
        std::max(1u, memref.getElementTypeBitWidth() / 8);
    range.start = (next + align - 1) / align * align;
    range.bytes = static_cast<uint32_t>(memref.getNumElements()) *
                  range.elementBytes;
    range.memref = attribution;
    window.push_back(range);
  }
  uint32_t staticEnd =
      window.empty() ? 1024 : window.back().start + window.back().bytes;
  dynamicBase = (staticEnd + 1023) / 1024 * 1024 + 16;
  return runBlock(body, all, nullptr);
}

LogicalResult
BlockRun::runBlock(Block &block, const Mask &active,
                   SmallVectorImpl<std::vector<ThreadValue>> *yielded) {
  for (Operation &op : block) {
    if (isa<mlir::gpu::ReturnOp>(op))
      return success();
    if (auto yield = dyn_cast<scf::YieldOp>(op)) {
      if (failed(checkAsyncOperands(yield)))
        return failure();
      if (yielded)
        for (Value value : yield.getOperands())
          yielded->push_back(slot(value));
      return success();
    }
    if (failed(runOp(&op, active)))
      return failure();
  }
  return success();
}

LogicalResult BlockRun::runFor(scf::ForOp op, const Mask &active) {
  std::optional<unsigned> first;
  for (unsigned t = 0; t < numThreads; ++t) {
    if (!active[t])
      continue;
    if (!first) {
      first = t;
      continue;
    }
    for (Value bound : {op.getLowerBound(), op.getUpperBound(), op.getStep()})
      if (get(bound, t) != get(bound, *first))
        return op.emitError() << "the loop's bounds differ between threads "
                              << *first << " and " << t << " of "
                              << where(t) << " (the emulator runs uniform "
                                             "loops only)";
  }
  Block &body = *op.getBody();
  SmallVector<std::vector<ThreadValue>> carried;
  for (Value init : op.getInitArgs())
    carried.push_back(slot(init));
  if (first) {
    int64_t lower = asInt(get(op.getLowerBound(), *first)[0]);
    int64_t upper = asInt(get(op.getUpperBound(), *first)[0]);
    int64_t step = asInt(get(op.getStep(), *first)[0]);
    if (step <= 0)
      return op.emitError() << "the loop's step is " << step;
    for (int64_t i = lower; i < upper; i += step) {
      (void)setUniform(op.getInductionVar(), active, static_cast<double>(i));
      for (auto [arg, value] : llvm::zip(op.getRegionIterArgs(), carried))
        slot(arg) = value;
      SmallVector<std::vector<ThreadValue>> next;
      if (failed(runBlock(body, active, &next)))
        return failure();
      carried = std::move(next);
    }
  }
  for (auto [result, value] : llvm::zip(op.getResults(), carried))
    slot(result) = value;
  return success();
}

LogicalResult BlockRun::runIf(scf::IfOp op, const Mask &active) {
  Mask thenMask(numThreads, 0), elseMask(numThreads, 0);
  bool anyThen = false, anyElse = false;
  for (unsigned t = 0; t < numThreads; ++t) {
    if (!active[t])
      continue;
    bool taken = get(op.getCondition(), t)[0] != 0;
    (taken ? thenMask : elseMask)[t] = 1;
    (taken ? anyThen : anyElse) = true;
  }
  SmallVector<std::vector<ThreadValue>> thenValues, elseValues;
  if (anyThen && failed(runBlock(op.getThenRegion().front(), thenMask,
                                 &thenValues)))
    return failure();
  if (anyElse && !op.getElseRegion().empty() &&
      failed(runBlock(op.getElseRegion().front(), elseMask, &elseValues)))
    return failure();
  for (auto [i, result] : llvm::enumerate(op.getResults())) {
    auto &out = slot(result);
    for (unsigned t = 0; t < numThreads; ++t) {
      if (thenMask[t])
        out[t] = thenValues[i][t];
      else if (elseMask[t])
        out[t] = elseValues[i][t];
    }
  }
  return success();
}

LogicalResult BlockRun::runShuffle(mlir::gpu::ShuffleOp op,
                                   const Mask &active) {
  if (failed(requireWholeWarps(op, active, "gpu.shuffle")))
    return failure();
  if (isa<VectorType>(op.getValue().getType()))
    return op.emitError("the emulator shuffles scalars only");
  ShuffleMode mode;
  switch (op.getMode()) {
  case mlir::gpu::ShuffleMode::XOR: mode = ShuffleMode::Xor; break;
  case mlir::gpu::ShuffleMode::UP: mode = ShuffleMode::Up; break;
  case mlir::gpu::ShuffleMode::DOWN: mode = ShuffleMode::Down; break;
  case mlir::gpu::ShuffleMode::IDX: mode = ShuffleMode::Idx; break;
  }
  auto &result = slot(op.getShuffleResult());
  auto &valid = slot(op.getValid());
  for (unsigned warp = 0; warp * kLanes < numThreads; ++warp) {
    unsigned base = warp * kLanes;
    if (base >= numThreads || !active[base])
      continue;
    std::vector<double> lanes(kLanes);
    for (unsigned lane = 0; lane < kLanes; ++lane)
      lanes[lane] = get(op.getValue(), base + lane)[0];
    // Offset and width are uniform in a correct kernel; lane 0's are used.
    ++statistics.shuffles;
    unsigned offset = static_cast<unsigned>(get(op.getOffset(), base)[0]);
    unsigned width = static_cast<unsigned>(get(op.getWidth(), base)[0]);
    llvm::Expected<ShuffleResult> shuffled =
        shuffle(lanes, offset, width, mode);
    if (!shuffled)
      return op.emitError() << where(base) << ": "
                            << llvm::toString(shuffled.takeError());
    for (unsigned lane = 0; lane < kLanes; ++lane) {
      result[base + lane] = {normalize(shuffled->value[lane],
                                       op.getValue().getType())};
      valid[base + lane] = {shuffled->valid[lane] ? 1.0 : 0.0};
    }
  }
  return success();
}

LogicalResult BlockRun::runLdmatrix(nvgpu::LdMatrixOp op, const Mask &active) {
  if (failed(requireWholeWarps(op, active, "nvgpu.ldmatrix")))
    return failure();
  FailureOr<MemrefView *> view = getView(op, op.getSrcMemref());
  if (failed(view))
    return failure();
  Type element = (*view)->elementType;
  if (!element.isF16() && !element.isBF16())
    return op.emitError("the emulator models ldmatrix of f16 and bf16");
  HalfType type = element.isF16() ? HalfType::F16 : HalfType::BF16;
  int64_t size = 1;
  for (int64_t extent : (*view)->shape)
    size *= extent;
  ArrayRef<double> memory((*view)->data, size);
  auto &out = slot(op.getRes());
  unsigned rows = 8 * op.getNumTiles();
  for (unsigned warp = 0; warp * kLanes < numThreads; ++warp) {
    unsigned base = warp * kLanes;
    if (base >= numThreads || !active[base])
      continue;
    ++statistics.ldmatrix;
    std::vector<int64_t> starts(kLanes, 0);
    for (unsigned lane = 0; lane < rows; ++lane) {
      FailureOr<int64_t> at =
          locate(op, **view, op.getIndices(), base + lane);
      if (failed(at))
        return failure();
      starts[lane] = *at;
      for (int64_t e = *at; e < std::min(*at + 8, size); ++e)
        if (failed(noteRead(op, **view, e, base + lane)))
          return failure();
    }
    llvm::Expected<WarpRegisters> loaded =
        ldmatrix(memory, starts, op.getNumTiles(), op.getTranspose(), type);
    if (!loaded)
      return op.emitError() << where(base) << ": "
                            << llvm::toString(loaded.takeError());
    for (unsigned lane = 0; lane < kLanes; ++lane)
      out[base + lane] = ThreadValue((*loaded)[lane].begin(),
                                     (*loaded)[lane].end());
  }
  return success();
}

LogicalResult BlockRun::runMma(nvgpu::MmaSyncOp op, const Mask &active) {
  if (failed(requireWholeWarps(op, active, "nvgpu.mma.sync")))
    return failure();
  SmallVector<int64_t> mmaShape;
  for (Attribute attr : op.getMmaShape())
    mmaShape.push_back(cast<IntegerAttr>(attr).getInt());
  Type element = getElementTypeOrSelf(op.getMatrixA().getType());
  Type accumulator = getElementTypeOrSelf(op.getMatrixC().getType());
  if (mmaShape != SmallVector<int64_t>{16, 8, 16} ||
      (!element.isF16() && !element.isBF16()) || !accumulator.isF32())
    return op.emitError("the emulator models mma.sync m16n8k16 with f16 or "
                        "bf16 operands and f32 accumulators");
  HalfType type = element.isF16() ? HalfType::F16 : HalfType::BF16;
  auto &out = slot(op.getRes());
  for (unsigned warp = 0; warp * kLanes < numThreads; ++warp) {
    unsigned base = warp * kLanes;
    if (base >= numThreads || !active[base])
      continue;
    WarpRegisters a, b, c;
    for (unsigned lane = 0; lane < kLanes; ++lane) {
      const ThreadValue &va = get(op.getMatrixA(), base + lane),
                        &vb = get(op.getMatrixB(), base + lane),
                        &vc = get(op.getMatrixC(), base + lane);
      for (double x : va)
        a[lane].push_back(static_cast<float>(x));
      for (double x : vb)
        b[lane].push_back(static_cast<float>(x));
      for (double x : vc)
        c[lane].push_back(static_cast<float>(x));
    }
    ++statistics.mmaSync;
    llvm::Expected<WarpRegisters> d = mmaSyncM16N8K16(a, b, c, type);
    if (!d)
      return op.emitError() << where(base) << ": "
                            << llvm::toString(d.takeError());
    for (unsigned lane = 0; lane < kLanes; ++lane)
      out[base + lane] = ThreadValue((*d)[lane].begin(), (*d)[lane].end());
  }
  return success();
}

LogicalResult BlockRun::runAsyncCopy(nvgpu::DeviceAsyncCopyOp op,
                                     const Mask &active) {
  // The copy reads its source now and lands when a wait retires its
  // group: a read of the destination before that is an error (noteRead).
  if (asyncCopies.size() != numThreads)
    asyncCopies.resize(numThreads);
  FailureOr<MemrefView *> dst = getView(op, op.getDst());
  FailureOr<MemrefView *> src = getView(op, op.getSrc());
  if (failed(dst) || failed(src))
    return failure();
  int64_t count = op.getDstElements().getSExtValue();
  for (unsigned t = 0; t < numThreads; ++t) {
    if (!active[t])
      continue;
    ++statistics.asyncCopies;
    int64_t valid = op.getSrcElements()
                        ? asInt(get(op.getSrcElements(), t)[0])
                        : count;
    FailureOr<int64_t> to = locate(op, **dst, op.getDstIndices(), t);
    if (failed(to))
      return failure();
    FailureOr<int64_t> from =
        valid > 0 ? locate(op, **src, op.getSrcIndices(), t)
                  : FailureOr<int64_t>(0);
    if (failed(from))
      return failure();
    int64_t innerDst = (*dst)->shape.back(), innerSrc = (*src)->shape.back();
    if (*to % innerDst + count > innerDst ||
        (valid > 0 && *from % innerSrc + valid > innerSrc))
      return op.emitError() << where(t) << ": the copy of " << count
                            << " elements runs past the end of a row";
    PendingCopy copy;
    copy.op = op;
    copy.dst = op.getDst();
    copy.to = *to;
    for (int64_t e = 0; e < count; ++e) {
      double value = 0;
      if (e < valid) {
        if (failed(noteRead(op, **src, *from + e, t)))
          return failure();
        value = normalize((*src)->data[*from + e], (*src)->elementType);
      }
      copy.values.push_back(normalize(value, (*dst)->elementType));
      // The hardware may write any time from here to the wait: the write
      // counts against this barrier interval's readers and writers now,
      // and reads before the wait are caught by the in-flight count.
      if (failed(noteWrite(op, **dst, *to + e, t)))
        return failure();
      if ((*dst)->shared >= 0)
        ++shared[(*dst)->shared].inFlight[*to + e];
    }
    asyncCopies[t].open.push_back(std::move(copy));
  }
  return setUniform(op.getAsyncToken(), active, 0);
}

LogicalResult BlockRun::retireGroups(Operation *, unsigned t, int64_t keep) {
  auto &groups = asyncCopies[t].committed;
  while (static_cast<int64_t>(groups.size()) > keep) {
    for (PendingCopy &copy : groups.front()) {
      FailureOr<MemrefView *> dst = getView(copy.op, copy.dst);
      if (failed(dst))
        return failure();
      for (auto [e, value] : llvm::enumerate(copy.values)) {
        int64_t at = copy.to + e;
        if ((*dst)->shared >= 0) {
          --shared[(*dst)->shared].inFlight[at];
          shared[(*dst)->shared].genericWriter[at] = static_cast<int32_t>(t);
        }
        (*dst)->data[at] = value;
      }
    }
    groups.erase(groups.begin());
  }
  return success();
}

LogicalResult BlockRun::checkAsyncOperands(Operation *op) {
  auto wgmma = dyn_cast<NVVM::WgmmaMmaAsyncOp>(op);
  for (Value value : op->getOperands()) {
    bool chained = wgmma && value == wgmma.getInouts();
    if (pendingAccumulators.contains(value) && !chained)
      return op->emitError("reads the accumulator of a wgmma.mma_async that "
                           "no nvvm.wgmma.wait.group.sync.aligned retired");
  }
  return success();
}

LogicalResult BlockRun::runLlvmOp(Operation *op, const Mask &active) {
  auto fill = [&](Value result, double value) {
    auto &out = slot(result);
    int64_t count = getNumElements(result.getType());
    for (unsigned t = 0; t < numThreads; ++t)
      if (active[t])
        out[t] = ThreadValue(count, value);
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      // Undefined registers read as NaN, so that a kernel that uses them
      // shows it in its results.
      .Case([&](LLVM::PoisonOp p) { return fill(p.getResult(), NAN); })
      .Case([&](LLVM::UndefOp u) { return fill(u.getResult(), NAN); })
      .Case([&](LLVM::ExtractValueOp e) -> LogicalResult {
        if (e.getPosition().size() != 1)
          return e.emitError("the emulator models llvm.extractvalue of a "
                             "flat struct only");
        int64_t at = e.getPosition()[0];
        auto &out = slot(e.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t])
            out[t] = {get(e.getContainer(), t)[at]};
        return success();
      })
      .Case([&](LLVM::InsertValueOp e) -> LogicalResult {
        if (e.getPosition().size() != 1)
          return e.emitError("the emulator models llvm.insertvalue into a "
                             "flat struct only");
        int64_t at = e.getPosition()[0];
        auto &out = slot(e.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t]) {
            ThreadValue value = get(e.getContainer(), t);
            value[at] = get(e.getValue(), t)[0];
            out[t] = std::move(value);
          }
        return success();
      })
      .Case([&](LLVM::BitcastOp c) -> LogicalResult {
        // Two i32 (element 0 the low half) into the i64 of a descriptor.
        auto from = dyn_cast<VectorType>(c.getArg().getType());
        if (!from || from.getNumElements() != 2 ||
            !from.getElementType().isInteger(32) ||
            !c.getType().isInteger(64))
          return c.emitError("the emulator models llvm.bitcast of "
                             "vector<2xi32> to i64 only");
        // Its only i64 operands are the descriptors.
        for (Operation *user : c.getResult().getUsers())
          if (!isa<NVVM::WgmmaMmaAsyncOp>(user))
            return c.emitError("the emulator models a 64-bit llvm.bitcast "
                               "only as a wgmma descriptor");
        auto &exact = bits64[c.getResult()];
        exact.resize(numThreads);
        auto &out = slot(c.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t]) {
            const ThreadValue &halves = get(c.getArg(), t);
            exact[t] = asUnsigned(halves[0], from.getElementType()) |
                       asUnsigned(halves[1], from.getElementType()) << 32;
            out[t] = {static_cast<double>(exact[t])};
          }
        return success();
      })
      .Case([&](NVVM::FenceProxyOp f) -> LogicalResult {
        if (f.getKind() != NVVM::ProxyKind::async_shared)
          return f.emitError("the emulator models fence.proxy.async.shared "
                             "only");
        // Each thread's own generic writes become visible to the async
        // proxy (a barrier then orders them for the other threads).
        for (SharedBuffer &buffer : shared)
          for (int32_t &writer : buffer.genericWriter)
            if (writer >= 0 && active[writer])
              writer = -1;
        return success();
      })
      .Case([&](NVVM::WgmmaFenceAlignedOp f) -> LogicalResult {
        if (failed(requireWholeWarps(f, active, "nvvm.wgmma.fence.aligned",
                                     kWarpgroupSize)))
          return failure();
        wgmmaFenced = true;
        return success();
      })
      .Case([&](NVVM::WgmmaMmaAsyncOp w) { return runWgmma(w, active); })
      .Case<LLVM::IntToPtrOp, LLVM::AddrSpaceCastOp>(
          [&](Operation *c) -> LogicalResult {
            // A pointer is its address: a shared-window address here, the
            // same in the shared::cta and shared::cluster windows (the
            // block is its own cluster).
            auto &out = slot(c->getResult(0));
            for (unsigned t = 0; t < numThreads; ++t)
              if (active[t])
                out[t] = {get(c->getOperand(0), t)[0]};
            return success();
          })
      .Case([&](NVVM::MBarrierInitOp init) -> LogicalResult {
        if (init.getPredicate())
          return init.emitError("the emulator models mbarrier.init without "
                                "a predicate");
        std::set<uint32_t> seen;
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          FailureOr<Mbarrier *> barrier =
              getMbarrier(init, init.getAddr(), t, false);
          if (failed(barrier))
            return failure();
          auto address = static_cast<uint32_t>(get(init.getAddr(), t)[0]);
          if (!seen.insert(address).second)
            return init.emitError()
                   << where(t) << " initialises the mbarrier at shared "
                   << "address " << address << " that another thread "
                   << "initialises at the same time";
          (*barrier)->init(static_cast<int64_t>(get(init.getCount(), t)[0]));
        }
        return success();
      })
      .Case([&](NVVM::FenceMbarrierInitOp) { return success(); })
      .Case([&](NVVM::MBarrierArriveExpectTxOp arrive) -> LogicalResult {
        if (arrive.getPredicate() || arrive.getRes())
          return arrive.emitError("the emulator models "
                                  "mbarrier.arrive.expect_tx without a "
                                  "predicate or a state result");
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          FailureOr<Mbarrier *> barrier =
              getMbarrier(arrive, arrive.getAddr(), t, true);
          if (failed(barrier))
            return failure();
          (*barrier)->arriveExpectTx(
              static_cast<int64_t>(get(arrive.getTxcount(), t)[0]));
        }
        return success();
      })
      .Case([&](NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp copy) {
        return runTma(copy, active);
      })
      .Case([&](NVVM::MBarrierTryWaitParityOp wait) -> LogicalResult {
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          FailureOr<Mbarrier *> barrier =
              getMbarrier(wait, wait.getAddr(), t, true);
          if (failed(barrier))
            return failure();
          auto parity = static_cast<unsigned>(get(wait.getPhase(), t)[0]);
          // In lock-step nothing else runs while the block waits here: a
          // phase not complete now never completes.
          if (!(*barrier)->hasCompletedParity(parity & 1))
            return wait.emitError()
                   << where(t) << " waits for the phase of parity "
                   << (parity & 1) << " of the mbarrier at shared address "
                   << static_cast<uint32_t>(get(wait.getAddr(), t)[0])
                   << ", which never completes (phase "
                   << (*barrier)->getPhase() << ", "
                   << (*barrier)->getPendingArrivals()
                   << " arrivals pending, "
                   << (*barrier)->getTransactionBytes()
                   << " transaction bytes outstanding): a deadlock";
          observedPhases[{static_cast<uint32_t>(get(wait.getAddr(), t)[0]),
                          t}] = (*barrier)->getPhase();
        }
        return success();
      })
      .Case([&](NVVM::WgmmaGroupSyncAlignedOp g) -> LogicalResult {
        if (failed(requireWholeWarps(
                g, active, "nvvm.wgmma.commit.group.sync.aligned",
                kWarpgroupSize)))
          return failure();
        committedWgmma.push_back(std::move(openWgmma));
        openWgmma.clear();
        return success();
      })
      .Case([&](NVVM::WgmmaWaitGroupSyncOp w) -> LogicalResult {
        if (failed(requireWholeWarps(w, active,
                                     "nvvm.wgmma.wait.group.sync.aligned",
                                     kWarpgroupSize)))
          return failure();
        int64_t keep = static_cast<int64_t>(w.getGroup());
        while (static_cast<int64_t>(committedWgmma.size()) > keep) {
          for (PendingWgmma &pending : committedWgmma.front()) {
            pendingAccumulators.erase(pending.result);
            for (auto [buffer, at] : pending.reads)
              --shared[buffer].asyncReads[at];
          }
          committedWgmma.erase(committedWgmma.begin());
        }
        // Registers written from here on need a new fence before the
        // next wgmma reads them.
        wgmmaFenced = false;
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitError()
               << "the GPU emulator does not model '" << other->getName()
               << "'";
      });
}

LogicalResult BlockRun::runWgmma(NVVM::WgmmaMmaAsyncOp op,
                                 const Mask &active) {
  if (failed(requireWholeWarps(op, active, "nvvm.wgmma.mma_async",
                               kWarpgroupSize)))
    return failure();
  NVVM::MMAShapeAttr shape = op.getShape();
  auto isHalf = [](NVVM::WGMMATypes type) {
    return type == NVVM::WGMMATypes::f16 || type == NVVM::WGMMATypes::bf16;
  };
  if (shape.getM() != 64 || shape.getK() != 16 ||
      op.getTypeA() != op.getTypeB() || !isHalf(op.getTypeA()) ||
      op.getTypeD() != NVVM::WGMMATypes::f32 ||
      op.getScaleA() != NVVM::WGMMAScaleIn::one ||
      op.getScaleB() != NVVM::WGMMAScaleIn::one ||
      op.getLayoutA() != NVVM::MMALayout::row)
    return op.emitError("the emulator models wgmma.mma_async m64nNk16 with "
                        "f16 or bf16 operands, A K-major (row) and B K-major "
                        "(col) or N-major (row), unscaled, and f32 "
                        "accumulators");
  WgmmaMajor majorB = op.getLayoutB() == NVVM::MMALayout::col
                          ? WgmmaMajor::K
                          : WgmmaMajor::MN;
  if (!pendingAccumulators.contains(op.getInouts()) && !wgmmaFenced)
    return op.emitError("no nvvm.wgmma.fence.aligned since the accumulator "
                        "registers were last written outside a wgmma chain");
  HalfType type = op.getTypeA() == NVVM::WGMMATypes::f16 ? HalfType::F16
                                                          : HalfType::BF16;
  unsigned n = static_cast<unsigned>(shape.getN());
  bool accumulate = op.getScaleD() == NVVM::WGMMAScaleOut::one;
  auto descriptors = [&](Value value) -> const std::vector<uint64_t> * {
    auto it = bits64.find(value);
    return it == bits64.end() ? nullptr : &it->second;
  };
  const std::vector<uint64_t> *descA = descriptors(op.getDescriptorA());
  const std::vector<uint64_t> *descB = descriptors(op.getDescriptorB());
  if (!descA || !descB)
    return op.emitError("the emulator reads wgmma descriptors built by "
                        "llvm.bitcast of vector<2xi32> (it holds other "
                        "values as double, exact below 2^53 only)");
  PendingWgmma pending;
  pending.result = op.getResult();
  auto &out = slot(op.getResult());
  for (unsigned group = 0; group * kWarpgroupSize < numThreads; ++group) {
    unsigned base = group * kWarpgroupSize;
    if (base >= numThreads || !active[base])
      continue;
    if (base + kWarpgroupSize > numThreads)
      return op.emitError() << "the block's last warpgroup has "
                            << numThreads - base << " threads, not 128";
    for (unsigned t = base; t < base + kWarpgroupSize; ++t)
      if ((*descA)[t] != (*descA)[base] || (*descB)[t] != (*descB)[base])
        return op.emitError() << where(t)
                              << ": the descriptors differ within the "
                                 "warpgroup";
    WarpgroupRegisters c(kWarpgroupSize);
    for (unsigned t = 0; t < kWarpgroupSize; ++t)
      for (double x : get(op.getInouts(), base + t))
        c[t].push_back(static_cast<float>(x));
    auto read = [&](uint32_t address) -> llvm::Expected<float> {
      auto fail = [&](const Twine &message) {
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       message);
      };
      for (auto [index, range] : llvm::enumerate(window)) {
        if (address < range.start || address + 2 > range.start + range.bytes)
          continue;
        if (range.elementBytes != 2)
          return fail("wgmma reads " + views[range.memref].name +
                      ", whose elements are not 16-bit");
        int64_t at = (address - range.start) / 2;
        SharedBuffer &buffer = shared[index];
        if (buffer.genericWriter[at] >= 0)
          return fail("wgmma reads element " + Twine(at) +
                      " of " + views[range.memref].name +
                      " that thread " + Twine(buffer.genericWriter[at]) +
                      " wrote through the generic proxy with no "
                      "fence.proxy.async since (wgmma reads through the "
                      "async proxy)");
        // A cp.async in flight into it, a race: reported at the op.
        MemrefView &view = views[window[index].memref];
        if (failed(noteRead(op, view, at, base)))
          return fail("(reported above)");
        ++buffer.asyncReads[at];
        pending.reads.push_back({static_cast<int>(index), at});
        return static_cast<float>(buffer.data[at]);
      }
      return fail("wgmma reads shared address " + Twine(address) +
                  ", outside every shared buffer");
    };
    ++statistics.wgmma;
    llvm::Expected<WarpgroupRegisters> d = wgmmaM64NK16(
        (*descA)[base], (*descB)[base], n, c, accumulate, type, read, majorB);
    if (!d)
      return op.emitError() << "warpgroup " << group << " of "
                            << where(base) << ": "
                            << llvm::toString(d.takeError());
    for (unsigned t = 0; t < kWarpgroupSize; ++t)
      out[base + t] = ThreadValue((*d)[t].begin(), (*d)[t].end());
  }
  pendingAccumulators.insert(op.getResult());
  openWgmma.push_back(std::move(pending));
  return success();
}

LogicalResult BlockRun::runView(memref::ViewOp op, const Mask &active) {
  auto source = views.find(op.getSource());
  if (source == views.end() || !source->second.dynamicShared)
    return op.emitError("the emulator models memref.view of "
                        "gpu.dynamic_shared_memory only");
  MemRefType type = op.getType();
  if (!type.hasStaticShape() || !type.getLayout().isIdentity())
    return op.emitError("the emulator models views of dynamic shared memory "
                        "of a static shape and the identity layout only");
  // The byte shift must be the same in every thread: each thread's view
  // is the same buffer.
  std::optional<int64_t> shift;
  for (unsigned t = 0; t < numThreads; ++t) {
    if (!active[t])
      continue;
    auto value = static_cast<int64_t>(get(op.getByteShift(), t)[0]);
    if (shift && *shift != value)
      return op.emitError() << where(t) << ": the byte shift " << value
                            << " differs from another thread's " << *shift;
    shift = value;
  }
  if (!shift)
    return success();
  unsigned elementBytes = std::max(1u, type.getElementTypeBitWidth() / 8);
  int64_t bytes = type.getNumElements() * elementBytes;
  int64_t launched = geometry.dynamicSharedBytes;
  if (*shift < 0 || *shift + bytes > launched)
    return op.emitError() << "the view covers bytes [" << *shift << ", "
                          << *shift + bytes << ") of dynamic shared memory, "
                          << "but the launch gives " << launched;
  uint32_t start = dynamicBase + static_cast<uint32_t>(*shift);
  if (start % elementBytes != 0)
    return op.emitError() << "the view at shared address " << start
                          << " is not aligned to its " << elementBytes
                          << "-byte elements";
  // The same bytes viewed again as the same type are the same buffer; any
  // other overlap would alias two typed buffers, which the emulator (one
  // value per element) does not model.
  for (const WindowRange &range : window) {
    if (range.start >= start + bytes || start >= range.start + range.bytes)
      continue;
    const MemrefView &other = views[range.memref];
    if (range.start == start && range.bytes == bytes &&
        other.elementType == type.getElementType() &&
        ArrayRef<int64_t>(other.shape) == type.getShape()) {
      views[op.getResult()] = other;
      return success();
    }
    return op.emitError() << "the view at bytes [" << *shift << ", "
                          << *shift + bytes << ") of dynamic shared memory "
                          << "overlaps " << other.name
                          << " with another type or shape";
  }
  shared.emplace_back(type.getNumElements());
  views[op.getResult()] = {
      shared.back().data.data(), type.getElementType(),
      SmallVector<int64_t>(type.getShape()), static_cast<int>(window.size()),
      "the view at byte " + std::to_string(*shift) +
          " of dynamic shared memory"};
  WindowRange range;
  range.start = start;
  range.bytes = static_cast<uint32_t>(bytes);
  range.elementBytes = elementBytes;
  range.memref = op.getResult();
  window.push_back(range);
  return success();
}

FailureOr<std::pair<unsigned, int64_t>>
BlockRun::resolveShared(Operation *op, uint32_t address, unsigned bytes,
                        unsigned thread, StringRef what) {
  for (auto [index, range] : llvm::enumerate(window)) {
    if (address < range.start || address + bytes > range.start + range.bytes)
      continue;
    if (range.elementBytes != bytes || (address - range.start) % bytes != 0)
      return op->emitError()
             << where(thread) << ": " << what << " shared address "
             << address << " of " << views[range.memref].name
             << ", whose elements are not " << bytes
             << "-byte ones at that address";
    return std::make_pair(static_cast<unsigned>(index),
                          static_cast<int64_t>((address - range.start) /
                                               bytes));
  }
  return op->emitError() << where(thread) << ": " << what
                         << " shared address " << address
                         << ", outside every shared buffer";
}

FailureOr<Mbarrier *> BlockRun::getMbarrier(Operation *op, Value pointer,
                                            unsigned thread,
                                            bool mustBeInitialized) {
  auto address = static_cast<uint32_t>(get(pointer, thread)[0]);
  if (failed(resolveShared(op, address, 8, thread, "the mbarrier at")))
    return failure();
  Mbarrier &barrier = mbarriers[address];
  if (mustBeInitialized && !barrier.isInitialized())
    return op->emitError() << where(thread)
                           << " uses the mbarrier at shared address "
                           << address << " before mbarrier.init";
  return &barrier;
}

LogicalResult
BlockRun::runTma(NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp op,
                 const Mask &active) {
  if (op.getMode() != NVVM::TMALoadMode::TILE ||
      !op.getIm2colOffsets().empty() || op.getMulticastMask() ||
      op.getL2CacheHint() || op.getPredicate())
    return op.emitError("the emulator models cp.async.bulk.tensor in tile "
                        "mode without multicast, cache hint or predicate");
  for (unsigned t = 0; t < numThreads; ++t) {
    if (!active[t])
      continue;
    auto handle = static_cast<int64_t>(get(op.getTmaDescriptor(), t)[0]);
    auto it = tensorMaps.find(handle);
    if (it == tensorMaps.end())
      return op.emitError() << where(t)
                            << ": the tensor map is not a kernel argument's";
    const EmulatorTensorMap &map = *it->second;
    const EmulatorBuffer &global = *map.buffer;
    size_t rank = map.box.size();
    if (op.getCoordinates().size() != rank)
      return op.emitError() << where(t) << ": " << op.getCoordinates().size()
                            << " coordinates for a tensor map of rank "
                            << rank;
    unsigned elementBytes =
        std::max(1u, global.elementType.getIntOrFloatBitWidth() / 8);
    auto destination = static_cast<uint32_t>(get(op.getDstMem(), t)[0]);
    if (destination % 128 != 0)
      return op.emitError() << where(t) << ": the destination (shared "
                            << "address " << destination
                            << ") is not 128-byte aligned";
    FailureOr<Mbarrier *> barrier = getMbarrier(op, op.getMbar(), t, true);
    if (failed(barrier))
      return failure();
    auto barrierAddress = static_cast<uint32_t>(get(op.getMbar(), t)[0]);
    // Coordinates innermost first; the box dense, innermost fastest.
    SmallVector<int64_t> first(rank);
    for (size_t i = 0; i < rank; ++i)
      first[rank - 1 - i] =
          static_cast<int64_t>(get(op.getCoordinates()[i], t)[0]);
    int64_t count = 1;
    for (int64_t extent : map.box)
      count *= extent;
    SmallVector<int64_t> boxIndex(rank);
    for (int64_t e = 0; e < count; ++e) {
      // Element e of the box (innermost fastest) and its global element,
      // which reads as zero outside the operand.
      int64_t rest = e;
      for (size_t dim = rank; dim-- > 0;) {
        boxIndex[dim] = rest % map.box[dim];
        rest /= map.box[dim];
      }
      bool inside = true;
      int64_t linear = 0;
      for (size_t dim = 0; dim < rank; ++dim) {
        int64_t at = first[dim] + boxIndex[dim];
        inside &= at >= 0 && at < global.shape[dim];
        linear = linear * global.shape[dim] + at;
      }
      double value = inside ? global.data[linear] : 0.0;
      uint32_t address = getTmaSharedAddress(
          destination, static_cast<uint32_t>(e * elementBytes),
          map.swizzleBytes);
      FailureOr<std::pair<unsigned, int64_t>> place =
          resolveShared(op, address, elementBytes, t, "a TMA copy writes");
      if (failed(place))
        return failure();
      auto [index, at] = *place;
      SharedBuffer &buffer = shared[index];
      MemrefView &view = views[window[index].memref];
      if (buffer.asyncReads[at] > 0 || buffer.inFlight[at] > 0 ||
          (buffer.readEpoch[at] == epoch) ||
          (buffer.writeEpoch[at] == epoch && buffer.writer[at] >= 0))
        return op.emitError()
               << where(t) << ": a TMA copy writes element " << at << " of "
               << view.name
               << (buffer.asyncReads[at] > 0
                       ? " that a wgmma.mma_async in flight reads"
                   : buffer.inFlight[at] > 0
                       ? " that a cp.async in flight writes"
                       : " that a thread accessed since the last gpu.barrier "
                         "(a race)");
      buffer.data[at] = value;
      buffer.genericWriter[at] = -1;
      buffer.tmaBarrier[at] = barrierAddress;
      buffer.tmaPhase[at] = (*barrier)->getPhase();
    }
    (*barrier)->completeTx(count * elementBytes);
    ++statistics.tmaCopies;
  }
  return success();
}

LogicalResult BlockRun::runOp(Operation *op, const Mask &active) {
  if (!pendingAccumulators.empty() && failed(checkAsyncOperands(op)))
    return failure();
  if (isa<LLVM::LLVMDialect, NVVM::NVVMDialect>(op->getDialect()))
    return runLlvmOp(op, active);
  using F = ArrayRef<double>;
  auto unary = [&](double (*fn)(double)) {
    return elementwise(op, active, [fn](F x) { return fn(x[0]); });
  };
  Type operandType = op->getNumOperands()
                         ? getElementTypeOrSelf(op->getOperand(0).getType())
                         : Type();
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](arith::ConstantOp c) -> LogicalResult {
        SmallVector<double> elements;
        Attribute value = c.getValue();
        auto number = [](Attribute a) -> double {
          if (auto f = dyn_cast<FloatAttr>(a))
            return f.getValueAsDouble();
          return static_cast<double>(cast<IntegerAttr>(a).getInt());
        };
        if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
          for (Attribute a : dense.getValues<Attribute>())
            elements.push_back(number(a));
        } else if (isa<FloatAttr, IntegerAttr>(value)) {
          elements.push_back(number(value));
        } else {
          return c.emitError("the emulator does not model this constant");
        }
        Type element = getElementTypeOrSelf(c.getType());
        for (double &x : elements)
          x = normalize(x, element);
        auto &out = slot(c.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t])
            out[t] = ThreadValue(elements.begin(), elements.end());
        return success();
      })
      .Case([&](arith::AddFOp) {
        return elementwise(op, active, [](F x) { return x[0] + x[1]; });
      })
      .Case([&](arith::SubFOp) {
        return elementwise(op, active, [](F x) { return x[0] - x[1]; });
      })
      .Case([&](arith::MulFOp) {
        return elementwise(op, active, [](F x) { return x[0] * x[1]; });
      })
      .Case([&](arith::DivFOp) {
        return elementwise(op, active, [](F x) { return x[0] / x[1]; });
      })
      .Case([&](arith::NegFOp) {
        return elementwise(op, active, [](F x) { return -x[0]; });
      })
      .Case([&](arith::MaximumFOp) {
        return elementwise(op, active,
                           [](F x) { return maximum(x[0], x[1]); });
      })
      .Case([&](arith::MinimumFOp) {
        return elementwise(op, active,
                           [](F x) { return minimum(x[0], x[1]); });
      })
      .Case([&](arith::MaxNumFOp) {
        return elementwise(op, active,
                           [](F x) { return std::fmax(x[0], x[1]); });
      })
      .Case([&](arith::MinNumFOp) {
        return elementwise(op, active,
                           [](F x) { return std::fmin(x[0], x[1]); });
      })
      .Case([&](arith::AddIOp) {
        return elementwise(op, active, [](F x) { return x[0] + x[1]; });
      })
      .Case([&](arith::SubIOp) {
        return elementwise(op, active, [](F x) { return x[0] - x[1]; });
      })
      .Case([&](arith::MulIOp) {
        return elementwise(op, active, [](F x) { return x[0] * x[1]; });
      })
      .Case([&](arith::DivSIOp d) -> LogicalResult {
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t] && get(d.getRhs(), t)[0] == 0)
            return d.emitError() << where(t) << ": division by zero";
        return elementwise(op, active, [](F x) {
          return static_cast<double>(asInt(x[0]) / asInt(x[1]));
        });
      })
      .Case([&](arith::RemSIOp d) -> LogicalResult {
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t] && get(d.getRhs(), t)[0] == 0)
            return d.emitError() << where(t) << ": remainder by zero";
        return elementwise(op, active, [](F x) {
          return static_cast<double>(asInt(x[0]) % asInt(x[1]));
        });
      })
      .Case([&](arith::FloorDivSIOp d) -> LogicalResult {
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t] && get(d.getRhs(), t)[0] == 0)
            return d.emitError() << where(t) << ": division by zero";
        return elementwise(op, active, [](F x) {
          return std::floor(x[0] / x[1]);
        });
      })
      .Case([&](arith::AndIOp) {
        return elementwise(op, active, [](F x) {
          return static_cast<double>(asInt(x[0]) & asInt(x[1]));
        });
      })
      .Case([&](arith::OrIOp) {
        return elementwise(op, active, [](F x) {
          return static_cast<double>(asInt(x[0]) | asInt(x[1]));
        });
      })
      .Case([&](arith::XOrIOp) {
        return elementwise(op, active, [](F x) {
          return static_cast<double>(asInt(x[0]) ^ asInt(x[1]));
        });
      })
      .Case([&](arith::ShLIOp) {
        return elementwise(op, active, [](F x) {
          return static_cast<double>(asInt(x[0]) << asInt(x[1]));
        });
      })
      .Case([&](arith::ShRUIOp s) {
        Type type = operandType;
        return elementwise(op, active, [type](F x) {
          return static_cast<double>(asUnsigned(x[0], type) >> asInt(x[1]));
        });
      })
      .Case<arith::DivUIOp, arith::RemUIOp, arith::CeilDivUIOp>(
          [&](Operation *) -> LogicalResult {
            Value rhs = op->getOperand(1);
            for (unsigned t = 0; t < numThreads; ++t)
              if (active[t] && get(rhs, t)[0] == 0)
                return op->emitError() << where(t) << ": division by zero";
            Type type = operandType;
            bool isRem = isa<arith::RemUIOp>(op);
            bool isCeil = isa<arith::CeilDivUIOp>(op);
            return elementwise(op, active, [=](F x) {
              uint64_t a = asUnsigned(x[0], type), b = asUnsigned(x[1], type);
              uint64_t r = isRem ? a % b : isCeil ? (a + b - 1) / b : a / b;
              return static_cast<double>(r);
            });
          })
      .Case<arith::MinUIOp, arith::MaxUIOp>([&](Operation *) {
        Type type = operandType;
        bool isMin = isa<arith::MinUIOp>(op);
        return elementwise(op, active, [=](F x) {
          uint64_t a = asUnsigned(x[0], type), b = asUnsigned(x[1], type);
          return isMin ? (a < b ? x[0] : x[1]) : (a < b ? x[1] : x[0]);
        });
      })
      .Case([&](arith::BitcastOp c) -> LogicalResult {
        // The bits of an f32 as an i32 and back (a power of two built from
        // an exponent: the row scales of GpuEinsumPlan::scalesOperandRows).
        Type from = c.getIn().getType(), to = c.getType();
        if (from.isF32() && to.isInteger(32))
          return elementwise(op, active, [](F x) {
            return static_cast<double>(
                llvm::bit_cast<int32_t>(static_cast<float>(x[0])));
          });
        if (from.isInteger(32) && to.isF32())
          return elementwise(op, active, [](F x) {
            return static_cast<double>(llvm::bit_cast<float>(
                static_cast<int32_t>(static_cast<int64_t>(x[0]))));
          });
        return c.emitError("the emulator models arith.bitcast between f32 "
                           "and i32 only");
      })
      .Case([&](arith::MaxSIOp) {
        return elementwise(op, active,
                           [](F x) { return std::max(x[0], x[1]); });
      })
      .Case([&](arith::MinSIOp) {
        return elementwise(op, active,
                           [](F x) { return std::min(x[0], x[1]); });
      })
      .Case([&](arith::CmpFOp c) {
        arith::CmpFPredicate predicate = c.getPredicate();
        return elementwise(op, active, [predicate](F x) {
          return compareFloats(predicate, x[0], x[1]) ? 1.0 : 0.0;
        });
      })
      .Case([&](arith::CmpIOp c) {
        arith::CmpIPredicate predicate = c.getPredicate();
        Type type = operandType;
        return elementwise(op, active, [predicate, type](F x) {
          return compareIntegers(predicate, x[0], x[1], type) ? 1.0 : 0.0;
        });
      })
      .Case([&](arith::SelectOp) {
        return elementwise(op, active,
                           [](F x) { return x[0] != 0 ? x[1] : x[2]; });
      })
      .Case<arith::IndexCastOp, arith::ExtSIOp, arith::TruncIOp,
            arith::SIToFPOp, arith::ExtFOp, arith::TruncFOp>([&](Operation *) {
        return elementwise(op, active, [](F x) { return x[0]; });
      })
      .Case<arith::IndexCastUIOp, arith::ExtUIOp, arith::UIToFPOp>(
          [&](Operation *) {
            Type type = operandType;
            return elementwise(op, active, [type](F x) {
              return static_cast<double>(asUnsigned(x[0], type));
            });
          })
      .Case([&](arith::FPToSIOp) {
        return elementwise(op, active, [](F x) { return std::trunc(x[0]); });
      })
      .Case([&](math::ExpOp) { return unary(std::exp); })
      .Case([&](math::Exp2Op) { return unary(std::exp2); })
      .Case([&](math::LogOp) { return unary(std::log); })
      .Case([&](math::Log2Op) { return unary(std::log2); })
      .Case([&](math::Log1pOp) { return unary(std::log1p); })
      .Case([&](math::ExpM1Op) { return unary(std::expm1); })
      .Case([&](math::ErfOp) { return unary(std::erf); })
      .Case([&](math::PowFOp) {
        return elementwise(op, active,
                           [](F x) { return std::pow(x[0], x[1]); });
      })
      .Case([&](math::SqrtOp) { return unary(std::sqrt); })
      .Case([&](math::TanhOp) { return unary(std::tanh); })
      .Case([&](math::AbsFOp) { return unary(std::fabs); })
      .Case([&](math::FloorOp) { return unary(std::floor); })
      .Case([&](math::CeilOp) { return unary(std::ceil); })
      .Case([&](math::RsqrtOp) {
        return elementwise(op, active,
                           [](F x) { return 1.0 / std::sqrt(x[0]); });
      })
      .Case([&](math::FmaOp) {
        return elementwise(op, active,
                           [](F x) { return x[0] * x[1] + x[2]; });
      })
      .Case([&](vector::BroadcastOp b) {
        int64_t count = getNumElements(b.getType());
        auto &out = slot(b.getResult());
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          const ThreadValue &in = get(b.getSource(), t);
          ThreadValue value(count);
          // Leading dimensions are added: element i repeats i % size.
          for (int64_t i = 0; i < count; ++i)
            value[i] = in[i % in.size()];
          out[t] = std::move(value);
        }
        return success();
      })
      .Case([&](vector::ExtractOp e) -> LogicalResult {
        if (!e.getDynamicPosition().empty())
          return e.emitError("the emulator extracts at constant positions");
        auto source = cast<VectorType>(e.getSource().getType());
        int64_t count = getNumElements(e.getType()), offset = 0;
        ArrayRef<int64_t> position = e.getStaticPosition();
        for (int64_t d = 0; d < source.getRank(); ++d)
          offset = offset * source.getDimSize(d) +
                   (d < static_cast<int64_t>(position.size()) ? position[d]
                                                              : 0);
        auto &out = slot(e.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t]) {
            const ThreadValue &in = get(e.getSource(), t);
            out[t] = ThreadValue(in.begin() + offset,
                                 in.begin() + offset + count);
          }
        return success();
      })
      .Case([&](vector::InsertOp e) -> LogicalResult {
        if (!e.getDynamicPosition().empty())
          return e.emitError("the emulator inserts at constant positions");
        auto dest = cast<VectorType>(e.getDest().getType());
        int64_t count = getNumElements(e.getValueToStore().getType()),
                offset = 0;
        ArrayRef<int64_t> position = e.getStaticPosition();
        for (int64_t d = 0; d < dest.getRank(); ++d)
          offset = offset * dest.getDimSize(d) +
                   (d < static_cast<int64_t>(position.size()) ? position[d]
                                                              : 0);
        auto &out = slot(e.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t]) {
            ThreadValue value = get(e.getDest(), t);
            const ThreadValue &in = get(e.getValueToStore(), t);
            for (int64_t i = 0; i < count; ++i)
              value[offset + i] = in[i];
            out[t] = std::move(value);
          }
        return success();
      })
      .Case([&](vector::FromElementsOp f) {
        auto &out = slot(f.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t]) {
            ThreadValue value;
            for (Value element : f.getElements())
              value.push_back(get(element, t)[0]);
            out[t] = std::move(value);
          }
        return success();
      })
      .Case([&](vector::ToElementsOp e) {
        // One scalar result per element, row-major (the canonical form of
        // extracts that take a vector apart).
        for (auto [i, result] : llvm::enumerate(e.getElements())) {
          auto &out = slot(result);
          for (unsigned t = 0; t < numThreads; ++t)
            if (active[t])
              out[t] = ThreadValue{get(e.getSource(), t)[i]};
        }
        return success();
      })
      .Case([&](vector::ShapeCastOp s) {
        auto &out = slot(s.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t])
            out[t] = get(s.getSource(), t);
        return success();
      })
      .Case([&](memref::ExtractAlignedPointerAsIndexOp e) -> LogicalResult {
        auto dynamic = views.find(e.getSource());
        if (dynamic != views.end() && dynamic->second.dynamicShared)
          return setUniform(e.getResult(), active, dynamicBase);
        FailureOr<MemrefView *> view = getView(e, e.getSource());
        if (failed(view))
          return failure();
        if ((*view)->shared < 0)
          return e.emitError("the emulator models the address of shared "
                             "memory only (the shared window that wgmma "
                             "descriptors address)");
        return setUniform(e.getResult(), active,
                          window[(*view)->shared].start);
      })
      .Case([&](mlir::gpu::DynamicSharedMemoryOp d) -> LogicalResult {
        MemrefView &view = views[d.getResult()];
        view.elementType = d.getType().getElementType();
        view.shape = {geometry.dynamicSharedBytes};
        view.name = "dynamic shared memory";
        view.dynamicShared = true;
        return success();
      })
      .Case([&](memref::ViewOp v) { return runView(v, active); })
      .Case([&](memref::DimOp d) -> LogicalResult {
        FailureOr<MemrefView *> view = getView(d, d.getSource());
        if (failed(view))
          return failure();
        std::optional<int64_t> dim = d.getConstantIndex();
        if (!dim || *dim < 0 ||
            *dim >= static_cast<int64_t>((*view)->shape.size()))
          return d.emitError("the emulator models memref.dim of a constant, "
                             "existing dimension only");
        return setUniform(d.getResult(), active,
                          static_cast<double>((*view)->shape[*dim]));
      })
      .Case([&](memref::LoadOp l) -> LogicalResult {
        FailureOr<MemrefView *> view = getView(l, l.getMemRef());
        if (failed(view))
          return failure();
        auto &out = slot(l.getResult());
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          FailureOr<int64_t> at = locate(l, **view, l.getIndices(), t);
          if (failed(at) || failed(noteRead(l, **view, *at, t)))
            return failure();
          out[t] = {normalize((*view)->data[*at], (*view)->elementType)};
        }
        return success();
      })
      .Case([&](memref::StoreOp s) -> LogicalResult {
        FailureOr<MemrefView *> view = getView(s, s.getMemRef());
        if (failed(view))
          return failure();
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          FailureOr<int64_t> at = locate(s, **view, s.getIndices(), t);
          if (failed(at) ||
              failed(storeElement(s, **view, *at, t,
                                  get(s.getValueToStore(), t)[0])))
            return failure();
        }
        return success();
      })
      .Case([&](vector::StoreOp s) -> LogicalResult {
        // A 1-D vector into consecutive elements of the innermost
        // dimension: one st.v2/v4 in PTX, which must be aligned to the
        // alignment the op promises (the element's by default). Every
        // buffer starts at least 16 bytes aligned, so the offset within
        // the buffer decides.
        VectorType type = s.getVectorType();
        if (type.getRank() != 1)
          return s.emitError("the emulator models vector.store of a 1-D "
                             "vector only");
        FailureOr<MemrefView *> view = getView(s, s.getBase());
        if (failed(view))
          return failure();
        int64_t elementBytes =
            std::max(1u, (*view)->elementType.getIntOrFloatBitWidth() / 8);
        int64_t count = type.getNumElements();
        int64_t alignment =
            static_cast<int64_t>(s.getAlignment().value_or(elementBytes));
        if (alignment > 16)
          return s.emitError("the emulator checks vector.store alignments "
                             "up to 16 bytes, not ")
                 << alignment;
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          FailureOr<int64_t> at = locate(s, **view, s.getIndices(), t);
          if (failed(at))
            return failure();
          int64_t inner = static_cast<int64_t>(
              get(s.getIndices().back(), t)[0]);
          if (inner + count > (*view)->shape.back())
            return s.emitError() << where(t) << ": a vector of " << count
                                 << " at index " << inner
                                 << " runs past the innermost dimension of "
                                 << (*view)->name;
          if (*at * elementBytes % alignment != 0)
            return s.emitError() << where(t) << ": byte " << *at * elementBytes
                                 << " of " << (*view)->name
                                 << " is not aligned to " << alignment
                                 << " bytes as the store promises";
          const ThreadValue &value = get(s.getValueToStore(), t);
          for (int64_t e = 0; e < count; ++e)
            if (failed(storeElement(s, **view, *at + e, t, value[e])))
              return failure();
        }
        return success();
      })
      .Case([&](scf::ForOp f) { return runFor(f, active); })
      .Case([&](scf::IfOp i) { return runIf(i, active); })
      .Case<mlir::gpu::ThreadIdOp, mlir::gpu::BlockIdOp,
            mlir::gpu::BlockDimOp, mlir::gpu::GridDimOp>([&](Operation *) {
        unsigned dim = 0;
        if (auto id = dyn_cast<mlir::gpu::ThreadIdOp>(op))
          dim = static_cast<unsigned>(id.getDimension());
        else if (auto id = dyn_cast<mlir::gpu::BlockIdOp>(op))
          dim = static_cast<unsigned>(id.getDimension());
        else if (auto id = dyn_cast<mlir::gpu::BlockDimOp>(op))
          dim = static_cast<unsigned>(id.getDimension());
        else
          dim = static_cast<unsigned>(
              cast<mlir::gpu::GridDimOp>(op).getDimension());
        auto &out = slot(op->getResult(0));
        for (unsigned t = 0; t < numThreads; ++t) {
          if (!active[t])
            continue;
          int64_t x = t % geometry.block[0],
                  y = t / geometry.block[0] % geometry.block[1],
                  z = t / (geometry.block[0] * geometry.block[1]);
          int64_t value = 0;
          if (isa<mlir::gpu::ThreadIdOp>(op))
            value = std::array<int64_t, 3>{x, y, z}[dim];
          else if (isa<mlir::gpu::BlockIdOp>(op))
            value = blockId[dim];
          else if (isa<mlir::gpu::BlockDimOp>(op))
            value = geometry.block[dim];
          else
            value = geometry.grid[dim];
          out[t] = {static_cast<double>(value)};
        }
        return success();
      })
      .Case([&](mlir::gpu::LaneIdOp l) {
        auto &out = slot(l.getResult());
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t])
            out[t] = {static_cast<double>(t % kLanes)};
        return success();
      })
      .Case([&](mlir::gpu::BarrierOp b) -> LogicalResult {
        for (unsigned t = 0; t < numThreads; ++t)
          if (!active[t])
            return b.emitError() << "gpu.barrier under divergent control "
                                    "flow: "
                                 << where(t) << " does not reach it";
        ++epoch;
        return success();
      })
      .Case([&](mlir::gpu::ShuffleOp s) { return runShuffle(s, active); })
      .Case([&](nvgpu::LdMatrixOp l) { return runLdmatrix(l, active); })
      .Case([&](nvgpu::MmaSyncOp m) { return runMma(m, active); })
      .Case([&](nvgpu::DeviceAsyncCopyOp c) { return runAsyncCopy(c, active); })
      .Case([&](nvgpu::DeviceAsyncCreateGroupOp g) {
        if (asyncCopies.size() != numThreads)
          asyncCopies.resize(numThreads);
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t]) {
            asyncCopies[t].committed.push_back(
                std::move(asyncCopies[t].open));
            asyncCopies[t].open.clear();
          }
        return setUniform(g.getAsyncToken(), active, 0);
      })
      .Case([&](nvgpu::DeviceAsyncWaitOp w) -> LogicalResult {
        // cp.async.wait_group N: all but the N most recent committed
        // groups complete; copies not yet committed are not waited for.
        int64_t keep = w.getNumGroups() ? *w.getNumGroups() : 0;
        if (asyncCopies.size() != numThreads)
          asyncCopies.resize(numThreads);
        for (unsigned t = 0; t < numThreads; ++t)
          if (active[t] && failed(retireGroups(w, t, keep)))
            return failure();
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitError()
               << "the GPU emulator does not model '" << other->getName()
               << "'";
      });
}

} // namespace

LogicalResult
mlir::cascade::gpu::emulateKernel(mlir::gpu::GPUFuncOp kernel,
                                  const LaunchGeometry &geometry,
                                  MutableArrayRef<EmulatorArgument> arguments,
                                  EmulatorStatistics *statistics) {
  EmulatorStatistics ignored;
  if (!statistics)
    statistics = &ignored;
  if (arguments.size() != kernel.getNumArguments())
    return kernel.emitError() << "the kernel takes "
                              << kernel.getNumArguments()
                              << " arguments, not " << arguments.size();
  for (unsigned d = 0; d < 3; ++d)
    if (geometry.grid[d] < 1 || geometry.block[d] < 1)
      return kernel.emitError("every grid and block dimension must be at "
                              "least 1");
  int64_t threads = geometry.block[0] * geometry.block[1] * geometry.block[2];
  if (threads > 1024)
    return kernel.emitError() << "a block of " << threads
                              << " threads exceeds CUDA's 1024";
  for (int64_t z = 0; z < geometry.grid[2]; ++z)
    for (int64_t y = 0; y < geometry.grid[1]; ++y)
      for (int64_t x = 0; x < geometry.grid[0]; ++x) {
        BlockRun block(kernel, geometry, {x, y, z}, arguments, *statistics);
        if (failed(block.run()))
          return failure();
      }
  return success();
}

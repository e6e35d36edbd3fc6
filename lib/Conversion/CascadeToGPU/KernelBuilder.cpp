//===- KernelBuilder.cpp - A scheduled cascade as an NVIDIA GPU kernel ----===//
//
// One thread block per work item (one query tile of one head), as the
// GpuPlan says; this builder reads the plan and decides nothing. Per block:
//
//   1. the work item's coordinates from the block id (the plan's work
//      decomposition, row-major), every rank's extent from the arguments;
//   2. the tiles staged once per item (the query side of S = Q K^T) copied
//      to shared memory by cp.async, and their A fragments loaded into
//      registers by ldmatrix (on sm_90a, wgmma reads them from shared
//      memory by descriptor instead: emitWarpgroupShared);
//   3. the grid's body in program order: every tensor is a list of f32
//      registers in its FragmentLayout (a warp owns 16 rows of the tile);
//      the key iterate is an scf.for over the key tiles its tile schedule
//      visits, the carried tensors its iter_args; with two slots each step
//      copies the next step's key-side tiles (cp.async) while it computes
//      its own, else it copies its own and waits; it emits its Einsums
//      twice when the schedule has full tiles (without and with
//      predicates);
//   4. the result tile converted to the storage type and stored for the
//      rows inside the query rank.
//
// Every element knows its coordinates: row 16 w + g + 8 r and column
// 8 j + 2 t + c of an accumulator fragment (w the warp, g = lane / 4,
// t = lane % 4), so bodies, predicates and element reads of global operands
// are evaluated per element, as scalar arith / math ops.
//
//===----------------------------------------------------------------------===//

#include "KernelCommon.h"

#include "cascade/Analysis/GpuPlan.h"
#include "cascade/Conversion/CascadeToGPU.h"
#include "cascade/Conversion/GpuKernelAttributes.h"
#include "cascade/Dialect/Cascade/IR/RankEnvironment.h"

#include "mlir/Dialect/Affine/Utils.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

/// A tensor of the work item: its f32 registers in the lane, in the order
/// of FragmentLayout (Tile: index (j * 2 + r) * 2 + c; Rows: r).
using Fragment = SmallVector<Value>;

/// Where an element of a fragment sits: its register index and its
/// tile-local row and column coordinates.
/// Per row of a lane (g and g + 8), a power of two and its inverse: what
/// a register operand's row is multiplied by before it is rounded to f16
/// (GpuEinsumPlan::scalesOperandRows), and its product with V after.
struct RowScales {
  Value scale[2], inverse[2];
};

struct Element {
  unsigned index = 0;
  unsigned r = 0;
  Value row, column;
};

class GpuKernelBuilder {
public:
  GpuKernelBuilder(func::FuncOp source, const GpuPlan &plan, Type storage)
      : source(source), plan(plan), storage(storage),
        b(source.getContext()), loc(source.getLoc()) {}

  LogicalResult build();

private:
  // Setup.
  LogicalResult createKernel();
  /// The shared buffers of `types` (the stages, then the mbarriers) as
  /// views of dynamic shared memory at the plan's offsets.
  SmallVector<Value> viewDynamicSharedMemory(ArrayRef<Type> types);
  LogicalResult computeExtents();
  void computeItemCoordinates();
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }

  // Shared memory.
  void emitStageCopy(const StagePlan &stage, Value buffer, Value slot);
  /// The per-key-step stages of key step `step` copied into `slot`: the
  /// cp.async ones where `run` holds (null: always), the TMA ones by
  /// emitTmaCopies.
  void emitKeyStepCopies(Value step, Value slot, Value run);

  // TMA (sm_90a): one thread copies a stage's slabs, completing on an
  // mbarrier that every thread waits on.
  /// mbarrier `index` (0: the per-item stages; 1 + slot: the per-key-step
  /// stages of that slot) as a shared-memory pointer.
  Value mbarrierPointer(Value index);
  /// Moves the insertion point into an scf.if that thread 0 alone runs.
  void enterThreadZero();
  /// Thread 0 initialises every mbarrier with an arrival count of 1; a
  /// block barrier follows before anyone waits.
  void emitMbarrierInit();
  /// Thread 0 arrives on mbarrier `barrier`, expecting the bytes of the TMA
  /// stages among `stages` (none where `run` fails: the phase completes
  /// all the same, so that phases count key steps), and where `run` holds
  /// (null: always) issues their copies into `slot`.
  void emitTmaCopies(ArrayRef<unsigned> stages, Value slot, Value barrier,
                     Value run);
  /// Every thread waits until the phase of `barrier` with parity `parity`
  /// (i32) has completed.
  void emitMbarrierWait(Value barrier, Value parity);
  /// Indices of (row, 16-byte chunk) in a stage's buffer: the slot the
  /// current key step reads (per-key-step stages) or 0, the stored row (in
  /// the chunk's slab), the (swizzled) column. The chunk is `chunkBase`
  /// plus a lane's `laneChunk` (null: 0), which stays in chunkBase's slab
  /// (every caller's lane offset is below 8 - chunkBase % 8), so that the
  /// slab is a constant.
  SmallVector<Value> stageIndices(const StagePlan &stage, Value row,
                                  int64_t chunkBase, Value laneChunk,
                                  Value slot = Value());
  /// The same for any chunk (the copies), its slab computed.
  SmallVector<Value> stageIndicesOfChunk(const StagePlan &stage, Value row,
                                         Value chunk, Value slot);
  /// Indices of chunk `chunk` of `row` within its slab (a padded tile's
  /// row is one slab), the slab starting `slabRows` stored rows in (null:
  /// 0): the swizzle applied.
  SmallVector<Value> placeChunk(const StagePlan &stage, Value slot, Value row,
                                Value slabRows, Value chunk);
  /// The shared-window address of `buffer` plus `byteOffset` (index; null:
  /// 0), as i32.
  Value sharedAddress(Value buffer, Value byteOffset = Value());
  /// The shared-window address of a stage's slot (the current key step's
  /// for a per-key-step stage), as i32.
  Value stageAddress(int64_t stageIndex);
  /// The address of the calling warpgroup's 64 rows in the swizzled tile
  /// at i32 `address` (wgmma's A: the query stage, P's tile).
  Value warpgroupRowsAddress(Value address);
  /// Commits the copies issued since the last group and waits until at
  /// most `keep` groups are in flight; when a wgmma reads the stages, then
  /// fence.proxy.async.shared::cta (cp.async writes through the generic
  /// proxy, wgmma reads through the async one).
  void emitCopyWait(int32_t keep);
  void emitBarrier() { gpu::BarrierOp::create(b, loc); }
  /// fence.proxy.async.shared::cta: this thread's generic-proxy writes to
  /// shared memory become visible to the async proxy (wgmma, TMA).
  void emitAsyncProxyFence() {
    NVVM::FenceProxyOp::create(
        b, loc, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  }

  // Fragments.
  SmallVector<Element> elementsOf(const FragmentLayout &layout);
  Value columnOf(const FragmentLayout &layout, unsigned j, unsigned c);
  /// The coordinate of every rank `einsum` names at `element` of context
  /// `layout` (unclamped; ranks no lane holds here are 0).
  SmallVector<Value> coordinates(EinsumOp einsum, const FragmentLayout &layout,
                                 const Element &element, bool clamp);
  SmallVector<Value> symbols(EinsumOp einsum);
  Value evaluatePredicate(EinsumOp einsum, const FragmentLayout &layout,
                          const Element &element);
  /// The data comparisons at `element` (null without them).
  Value evaluateDataCompares(EinsumOp einsum, const FragmentLayout &layout,
                             const Element &element);
  /// The key coordinate of `element` lies inside the key rank.
  Value insideKeys(const FragmentLayout &layout, const Element &element);
  Value operandElement(EinsumOp einsum, unsigned operand,
                       const FragmentLayout &layout, const Element &element);
  /// The body at `element`, with `given` operand values where set.
  Value evaluateBody(EinsumOp einsum, const FragmentLayout &layout,
                     const Element &element, ArrayRef<Value> given = {});

  // Einsums.
  LogicalResult emitBlock(Block &block);
  LogicalResult emitEinsum(EinsumOp einsum);
  Fragment emitMap(EinsumOp einsum, const GpuEinsumPlan &einsumPlan);
  Fragment emitRowReduce(EinsumOp einsum, const GpuEinsumPlan &einsumPlan);
  Fragment emitMmaShared(EinsumOp einsum, const GpuEinsumPlan &einsumPlan);
  /// The key contractions set their result's fragments (or the map's they
  /// accumulate into) themselves.
  void emitMmaRegisters(EinsumOp einsum, const GpuEinsumPlan &einsumPlan);
  Fragment emitWarpgroupShared(EinsumOp einsum,
                               const GpuEinsumPlan &einsumPlan);
  void emitWarpgroupStaged(EinsumOp einsum, const GpuEinsumPlan &einsumPlan);
  /// A wgmma shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor
  /// Format") of a 128-byte-swizzled operand starting `offset` bytes past
  /// the i32 shared address `address`, with the given leading and stride
  /// byte offsets: built as two i32 halves joined by llvm.bitcast.
  Value wgmmaDescriptor(Value address, int64_t offset, int64_t leading,
                        int64_t stride);
  /// The chain of `kSteps` wgmma.mma_async m64n`n`k16 of this warpgroup
  /// (k-step kk reading `descriptorA(kk)` and `descriptorB(kk)`, B K-major
  /// or N-major per `layoutB`) into a fresh f32 accumulator, committed and
  /// waited for: the result in the Tile layout.
  Fragment emitWgmmaChain(int64_t n, int64_t kSteps,
                          function_ref<Value(int64_t)> descriptorA,
                          function_ref<Value(int64_t)> descriptorB,
                          NVVM::MMALayout layoutB,
                          ArrayRef<Value> initial = {});
  /// For a contraction that accumulates into a map (GpuEinsumPlan::
  /// accumulatesInto): the map's body at every element with the product
  /// 0, what the accumulators start from (times the row scales of a scaled
  /// operand); empty otherwise.
  Fragment accumulationStart(const GpuEinsumPlan &einsumPlan,
                             const std::optional<RowScales> &scales);
  /// The contraction's result, times the inverse row scales of a scaled
  /// operand: assigned to the map it accumulates into, or scaled by s (the
  /// body at a = b = 1) into its own.
  void finishKeyContraction(EinsumOp einsum, const GpuEinsumPlan &einsumPlan,
                            Fragment result,
                            const std::optional<RowScales> &scales);
  /// The key-tile operand of a key contraction, per element of the key
  /// tile's layout: 0 where the key lies outside the rank or the predicate
  /// fails (nothing to add), rounded to the storage type.
  Fragment maskedKeyOperand(EinsumOp einsum, unsigned operand,
                            RowScales *scales = nullptr);
  /// The contraction's row scales (GpuEinsumPlan::scalesOperandRows, f16
  /// only: bf16 has f32's range), or null.
  std::optional<RowScales> rowScalesFor(const GpuEinsumPlan &einsumPlan);
  /// `fragment` (over the rows of the lane) times `factor[r]` per row.
  void scaleRows(Fragment &fragment, const FragmentLayout &layout,
                 const Value factor[2]);
  /// S = A B contracted by the tensor cores, as a * b * s: times s (the
  /// body at a = b = 1, per element), the fill value where the predicate
  /// fails.
  void scaleAndMask(EinsumOp einsum, const GpuEinsumPlan &einsumPlan,
                    Fragment &result);
  Value combine(ReduceKind kind, Value accumulator, Value value);
  /// The mma A fragments (one per 16-wide k-step) of a stage whose rows
  /// are the query tile's, for the calling warp's 16 rows.
  SmallVector<Value> loadFragmentsA(int64_t stageIndex);
  /// B(j, kk), and with `pair` also the next one ldmatrix.x4 gives with it
  /// (B(j, kk + 1) for MmaShared, B(j + 1, kk) for MmaRegisters).
  using LoadedB = std::pair<Value, Value>;
  /// The f32 tile of `columns` columns whose 8-column block j is
  /// sum_kk A[kk] B(j, kk) by mma.sync m16n8k16, B loaded by `loadB` in
  /// pairs where `plan` says (GpuEinsumPlan::bMatricesPerLoad).
  Fragment contract(ArrayRef<Value> fragmentsA, int64_t columns,
                    const GpuEinsumPlan &plan,
                    function_ref<LoadedB(int64_t j, int64_t kk, bool pair)>
                        loadB,
                    ArrayRef<Value> initial = {});
  /// ldmatrix of B operands from `stage` with lane addresses (`row`,
  /// `chunk`): x2 for one operand, or x4 split into two.
  LoadedB loadMatricesB(Value buffer, const StagePlan &stage, Value row,
                        int64_t chunkBase, Value laneChunk, bool transpose,
                        bool pair);
  LogicalResult emitIterate(IterateOp iterate);
  LogicalResult emitStep(IterateOp iterate);

  // Key tiles classified by ids at run time (document masks).
  /// [min, max] as i64 of data read `read` of the id reader over the first
  /// `count` (at least 1) of the `tile` coordinates of the tile-local rank
  /// it varies with, the other ranks as fixed now; a read that varies with
  /// neither tile is one id. Every warp computes it, each lane reducing its
  /// own ids before xor shuffles 16..1, so it is uniform over the block.
  std::pair<Value, Value> emitIdRange(unsigned read, int64_t tile,
                                      Value count);
  /// The class of key step `step` (which must exist): its key tile's id
  /// ranges against the query tile's, over every comparison.
  DataCompareClass classifyByIds(Value step);
  /// Writes result `index` of the grid (GpuPlan::getResults) from its
  /// fragments: rows past the query extent are not written; a per-row
  /// result is written once per row, by the first lane of its quad.
  void emitResultStore(unsigned index);
  /// The kernel argument result `index` is written to.
  Value getOutputArgument(unsigned index) {
    return kernel.getArgument(source.getNumArguments() + index);
  }

  func::FuncOp source;
  const GpuPlan &plan;
  Type storage;
  OpBuilder b;
  Location loc;
  gpu::GPUFuncOp kernel;
  FailureOr<RankEnvironment> env = failure();

  llvm::StringMap<Value> extents;
  /// Ranks fixed for the block or the key step.
  llvm::StringMap<Value> fixed;
  Value lane, warp, laneRow, laneColumn;
  /// Valid rows of the query tile and keys of the current key tile.
  Value queryValid, keyValid;
  bool predicatesHold = false;
  /// The slot of the per-key-step stages the current step reads.
  Value readSlot;
  llvm::DenseMap<Value, Fragment> fragments;
  SmallVector<Value> stageBuffers;
  /// The tile stage WarpgroupStaged contractions store P to (null: none).
  Value tileStageBuffer;
  /// Einsums emitted ahead of their place (GpuEinsumPlan::emittedBefore),
  /// until their place is reached.
  llvm::DenseSet<Operation *> emittedEarly;
  /// The mbarriers (memref<N x i64> in shared memory) and each TMA stage's
  /// tensor-map argument, by stage index (null when none).
  Value mbarriers;
  SmallVector<Value> tensorMaps;
  /// A fragments of per-item stages: per stage, one vector per k-step.
  llvm::DenseMap<int64_t, SmallVector<Value>> hoistedA;
  /// The id reader of the key loop being built (null without ids) and the
  /// ranges of its reads that do not vary with the key tile.
  const DataBoundsPlan *idBounds = nullptr;
  SmallVector<std::pair<Value, Value>> queryIdRanges;
};

} // namespace

std::string mlir::cascade::getGpuKernelName(func::FuncOp function) {
  return function.getSymName().str();
}

//===----------------------------------------------------------------------===//
// Setup
//===----------------------------------------------------------------------===//

LogicalResult GpuKernelBuilder::createKernel() {
  MLIRContext *context = source.getContext();
  gpu::GPUModuleOp gpuModule = createKernelModule(b, source);
  SmallVector<Type> inputs = kernelInputTypes(source, storage);
  for (auto [type, result] :
       llvm::zip(source.getResultTypes(), plan.getResults()))
    inputs.push_back(MemRefType::get(
        cast<RankedTensorType>(type).getShape(),
        result.isF32() ? Type(b.getF32Type()) : storage));
  // One tensor map per TMA stage, after the outputs: a pointer to the
  // 128-byte CUtensorMap in global memory (docs/GPU.md, "ABI").
  unsigned firstTensorMap = inputs.size();
  for (unsigned i = 0; i < plan.getTmaStages().size(); ++i)
    inputs.push_back(LLVM::LLVMPointerType::get(context));
  // The shared buffers: every stage (a slot per key-step buffer), then the
  // mbarriers. Static shared memory holds them as workgroup attributions;
  // dynamic shared memory as views at the plan's offsets (below).
  SmallVector<Type> sharedTypes;
  auto shared = gpu::AddressSpaceAttr::get(context,
                                           gpu::AddressSpace::Workgroup);
  for (const StagePlan &stage : plan.getStages())
    sharedTypes.push_back(MemRefType::get(
        {stage.perKeyStep ? plan.getKeySlots() : 1, stage.getStoredRows(),
         stage.rowPitch},
        storage, MemRefLayoutAttrInterface(), shared));
  const std::optional<StagePlan> &tileStage = plan.getTileStage();
  if (tileStage)
    sharedTypes.push_back(MemRefType::get(
        {1, tileStage->getStoredRows(), tileStage->rowPitch}, storage,
        MemRefLayoutAttrInterface(), shared));
  if (int64_t count = plan.getMbarrierCount())
    sharedTypes.push_back(MemRefType::get(
        {count}, b.getI64Type(), MemRefLayoutAttrInterface(), shared));
  bool dynamicShared = plan.usesDynamicSharedMemory();
  b.setInsertionPointToStart(gpuModule.getBody());
  if (dynamicShared)
    declareDynamicSharedMemory(b, loc);
  kernel = gpu::GPUFuncOp::create(
      b, loc, getGpuKernelName(source), b.getFunctionType(inputs, {}),
      dynamicShared ? TypeRange() : TypeRange(sharedTypes));
  kernel->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  if (!dynamicShared) {
    for (auto [i, stage] : llvm::enumerate(plan.getStages()))
      kernel.setWorkgroupAttributionAttr(
          i, "llvm.align", b.getI64IntegerAttr(stage.getAlignment()));
    unsigned next = plan.getStages().size();
    if (tileStage)
      kernel.setWorkgroupAttributionAttr(
          next++, "llvm.align", b.getI64IntegerAttr(tileStage->getAlignment()));
    if (plan.getMbarrierCount())
      kernel.setWorkgroupAttributionAttr(next, "llvm.align",
                                         b.getI64IntegerAttr(8));
  }
  // What a host encodes each tensor map from: the input it describes, the
  // box (outermost first) and the swizzle.
  tensorMaps.assign(plan.getStages().size(), Value());
  for (auto [i, stageIndex] : llvm::enumerate(plan.getTmaStages())) {
    const StagePlan &stage = plan.getStages()[stageIndex];
    EinsumOp reader = stage.reader;
    Value global = reader.getInputs()[stage.operand];
    unsigned argument = firstTensorMap + i;
    kernel.setArgAttr(
        argument, kTensorMapAttrName,
        b.getDictionaryAttr(
            {b.getNamedAttr("operand",
                            b.getI64IntegerAttr(
                                cast<BlockArgument>(global).getArgNumber())),
             b.getNamedAttr("box", b.getDenseI64ArrayAttr(stage.getTmaBox())),
             b.getNamedAttr("swizzle", b.getI64IntegerAttr(128))}));
    tensorMaps[stageIndex] = kernel.getArgument(argument);
  }
  // The launch geometry the plan fixes, for the host and for ptxas.
  kernel.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(plan.getThreadsPerBlock()), 1, 1}));
  b.setInsertionPointToStart(&kernel.getBody().front());
  SmallVector<Value> sharedBuffers =
      dynamicShared ? viewDynamicSharedMemory(sharedTypes)
                    : SmallVector<Value>(kernel.getWorkgroupAttributions());
  for (unsigned i = 0; i < plan.getStages().size(); ++i)
    stageBuffers.push_back(sharedBuffers[i]);
  if (tileStage)
    tileStageBuffer = sharedBuffers[plan.getStages().size()];
  if (plan.getMbarrierCount())
    mbarriers = sharedBuffers.back();
  return success();
}

SmallVector<Value>
GpuKernelBuilder::viewDynamicSharedMemory(ArrayRef<Type> types) {
  // gpu.dynamic_shared_memory lowers to the `.extern .shared .align 16`
  // array declared above, so its base is only known to be 16-byte aligned
  // (the driver places it after the static shared memory); the swizzled
  // stages need 1024 (wgmma descriptors and TMA assume the 128-byte
  // swizzle's 1024-byte pattern starts at an aligned address). The base is
  // aligned up here at run time, within the slack the plan adds to the
  // launch's bytes.
  auto bytes = MemRefType::get(
      {ShapedType::kDynamic}, b.getI8Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  Value memory = gpu::DynamicSharedMemoryOp::create(b, loc, bytes);
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memory);
  Value skip = arith::AndIOp::create(
      b, loc, arith::SubIOp::create(b, loc, index(0), base),
      index(plan.getSharedBaseAlignment() - 1));
  SmallVector<Value> views;
  for (auto [type, offset] : llvm::zip(types, plan.getSharedMemoryOffsets())) {
    Value shift = arith::AddIOp::create(b, loc, skip, index(offset));
    views.push_back(memref::ViewOp::create(b, loc, cast<MemRefType>(type),
                                           memory, shift, ValueRange{}));
  }
  return views;
}

LogicalResult GpuKernelBuilder::computeExtents() {
  env = RankEnvironment::build(source);
  if (failed(env))
    return failure();
  return computeKernelExtents(b, loc, *env, kernel,
                              plan.getSchedule().getWork(), extents);
}

void GpuKernelBuilder::computeItemCoordinates() {
  const WorkPlan &work = plan.getSchedule().getWork();
  // The first result (the attention output) gives the work ranks' extents.
  computeWorkCoordinates(b, loc, getOutputArgument(0), work, fixed);
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  warp = arith::DivUIOp::create(b, loc, thread, index(32));
  lane = arith::RemUIOp::create(b, loc, thread, index(32));
  laneRow = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, warp, index(16)),
      arith::DivUIOp::create(b, loc, lane, index(4)));
  laneColumn = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, lane, index(4)), index(2));
  PartitionOp query = work.queryPartition;
  Value first = arith::MulIOp::create(b, loc, fixed.lookup(query.getOuter()),
                                      index(query.getTile()));
  queryValid = arith::MinUIOp::create(
      b, loc, index(query.getTile()),
      arith::SubIOp::create(b, loc, extents.lookup(query.getRank()), first));
}

//===----------------------------------------------------------------------===//
// Shared memory
//===----------------------------------------------------------------------===//

SmallVector<Value> GpuKernelBuilder::placeChunk(const StagePlan &stage,
                                               Value slot, Value row,
                                               Value slabRows, Value chunk) {
  Value storedRow = row;
  if (stage.swizzled) {
    chunk = arith::XOrIOp::create(
        b, loc, chunk, arith::RemUIOp::create(b, loc, row, index(8)));
    if (slabRows)
      storedRow = arith::AddIOp::create(b, loc, row, slabRows);
  }
  return {slot, storedRow, arith::MulIOp::create(b, loc, chunk, index(8))};
}

SmallVector<Value> GpuKernelBuilder::stageIndices(const StagePlan &stage,
                                                 Value row, int64_t chunkBase,
                                                 Value laneChunk, Value slot) {
  if (!slot)
    slot = stage.perKeyStep ? readSlot : index(0);
  int64_t slab = stage.swizzled ? chunkBase / 8 : 0;
  Value chunk = index(stage.swizzled ? chunkBase % 8 : chunkBase);
  if (laneChunk)
    chunk = arith::AddIOp::create(b, loc, chunk, laneChunk);
  return placeChunk(stage, slot, row, slab ? index(slab * stage.rows) : Value(),
                    chunk);
}

SmallVector<Value> GpuKernelBuilder::stageIndicesOfChunk(const StagePlan &stage,
                                                        Value row, Value chunk,
                                                        Value slot) {
  if (!stage.swizzled)
    return placeChunk(stage, slot, row, Value(), chunk);
  Value slabRows = arith::MulIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, chunk, index(8)),
      index(stage.rows));
  return placeChunk(stage, slot, row, slabRows,
                    arith::RemUIOp::create(b, loc, chunk, index(8)));
}

Value GpuKernelBuilder::sharedAddress(Value buffer, Value byteOffset) {
  Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
  if (byteOffset)
    base = arith::AddIOp::create(b, loc, base, byteOffset);
  return arith::IndexCastOp::create(b, loc, b.getI32Type(), base);
}

Value GpuKernelBuilder::stageAddress(int64_t stageIndex) {
  const StagePlan &stage = plan.getStages()[stageIndex];
  return sharedAddress(
      stageBuffers[stageIndex],
      stage.perKeyStep
          ? arith::MulIOp::create(b, loc, readSlot, index(stage.getBytes()))
                .getResult()
          : Value());
}

Value GpuKernelBuilder::warpgroupRowsAddress(Value address) {
  // 64 rows of 128 bytes per warpgroup within a slab.
  Value warpgroup = arith::DivUIOp::create(b, loc, warp, index(4));
  return arith::AddIOp::create(
      b, loc, address,
      arith::IndexCastOp::create(
          b, loc, b.getI32Type(),
          arith::MulIOp::create(b, loc, warpgroup, index(64 * 128))));
}

/// Where k-step kk (16 elements of k) of a K-major swizzled operand of
/// `rows` rows per slab starts: slab kk / 4, 32 bytes per step within it.
static int64_t kMajorOffset(int64_t rows, int64_t kk) {
  return (kk / 4) * rows * 128 + (kk % 4) * 32;
}

void GpuKernelBuilder::emitCopyWait(int32_t keep) {
  if (!plan.usesCpAsync())
    return;
  Value group = nvgpu::DeviceAsyncCreateGroupOp::create(
      b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), ValueRange{});
  nvgpu::DeviceAsyncWaitOp::create(b, loc, group, b.getI32IntegerAttr(keep));
  if (plan.usesWarpgroupMma())
    emitAsyncProxyFence();
}

void GpuKernelBuilder::emitKeyStepCopies(Value step, Value slot, Value run) {
  PartitionOp keys = plan.getSchedule().getWork().keyPartition;
  Value savedStep = fixed.lookup(keys.getOuter()), savedValid = keyValid;
  fixed[keys.getOuter()] = step;
  Value first = arith::MulIOp::create(b, loc, step, index(keys.getTile()));
  keyValid = arith::MinUIOp::create(
      b, loc, index(keys.getTile()),
      arith::SubIOp::create(b, loc, extents.lookup(keys.getRank()), first));
  SmallVector<unsigned> copied, viaTma;
  for (auto [i, stage] : llvm::enumerate(plan.getStages()))
    if (stage.perKeyStep)
      (stage.tma ? viaTma : copied).push_back(i);
  if (!viaTma.empty())
    emitTmaCopies(viaTma, slot, arith::AddIOp::create(b, loc, slot, index(1)),
                  run);
  if (!copied.empty()) {
    std::optional<OpBuilder::InsertionGuard> guard;
    if (run) {
      guard.emplace(b);
      auto branch = scf::IfOp::create(b, loc, run, false);
      b.setInsertionPointToStart(branch.thenBlock());
    }
    for (unsigned i : copied)
      emitStageCopy(plan.getStages()[i], stageBuffers[i], slot);
  }
  if (savedStep)
    fixed[keys.getOuter()] = savedStep;
  else
    fixed.erase(keys.getOuter());
  keyValid = savedValid;
}

Value GpuKernelBuilder::mbarrierPointer(Value barrier) {
  Value address = arith::AddIOp::create(
      b, loc, memref::ExtractAlignedPointerAsIndexOp::create(b, loc, mbarriers),
      arith::MulIOp::create(b, loc, barrier, index(8)));
  return LLVM::IntToPtrOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext(), /*shared=*/3),
      ValueRange{arith::IndexCastOp::create(b, loc, b.getI64Type(), address)});
}

void GpuKernelBuilder::enterThreadZero() {
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                      thread, index(0));
  auto branch = scf::IfOp::create(b, loc, first, false);
  b.setInsertionPointToStart(branch.thenBlock());
}

void GpuKernelBuilder::emitMbarrierInit() {
  {
    OpBuilder::InsertionGuard guard(b);
    enterThreadZero();
    Value one = arith::ConstantIntOp::create(b, loc, 1, 32);
    for (int64_t i = 0; i < plan.getMbarrierCount(); ++i)
      NVVM::MBarrierInitOp::create(b, loc, mbarrierPointer(index(i)), one,
                                   Value());
    // Makes the initialisation visible to the async proxy (TMA's
    // complete-tx) as well.
    NVVM::FenceMbarrierInitOp::create(b, loc);
  }
  emitBarrier();
}

void GpuKernelBuilder::emitTmaCopies(ArrayRef<unsigned> stageIndices,
                                     Value slot, Value barrier, Value run) {
  int64_t bytes = 0;
  for (unsigned i : stageIndices)
    bytes += plan.getStages()[i].getBytes();
  OpBuilder::InsertionGuard guard(b);
  enterThreadZero();
  Value bar = mbarrierPointer(barrier);
  Value expected = arith::ConstantIntOp::create(b, loc, bytes, 32);
  if (run)
    expected = arith::SelectOp::create(
        b, loc, run, expected, arith::ConstantIntOp::create(b, loc, 0, 32));
  NVVM::MBarrierArriveExpectTxOp::create(b, loc, Type(), bar, expected,
                                         NVVM::MemScopeKind::CTA,
                                         /*relaxed=*/false, Value());
  if (run) {
    auto branch = scf::IfOp::create(b, loc, run, false);
    b.setInsertionPointToStart(branch.thenBlock());
  }
  for (unsigned stageIndex : stageIndices) {
    const StagePlan &stage = plan.getStages()[stageIndex];
    EinsumOp einsum = stage.reader;
    AffineMap map =
        cast<AffineMapAttr>(einsum.getIndexingMaps()[stage.operand]).getValue();
    SmallVector<Value> syms = symbols(einsum);
    Value base = memref::ExtractAlignedPointerAsIndexOp::create(
        b, loc, stageBuffers[stageIndex]);
    base = arith::AddIOp::create(
        b, loc, base, arith::MulIOp::create(b, loc, slot, index(stage.getBytes())));
    for (int64_t slab = 0; slab < stage.slabs; ++slab) {
      // The box's first element: the tile's first row, the slab's first
      // column; TMA takes the coordinates innermost first.
      SmallVector<Value> dims;
      for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
        if (rank == stage.rowRank)
          dims.push_back(index(0));
        else if (rank == stage.headRank)
          dims.push_back(index(slab * 64));
        else if (Value value = fixed.lookup(rank))
          dims.push_back(value);
        else
          dims.push_back(index(0));
      }
      SmallVector<Value> coordinates;
      for (AffineExpr expr : llvm::reverse(map.getResults()))
        coordinates.push_back(arith::IndexCastOp::create(
            b, loc, b.getI32Type(),
            affine::expandAffineExpr(b, loc, expr, dims, syms)));
      Value address = arith::AddIOp::create(b, loc, base,
                                            index(slab * stage.rows * 128));
      // The shared::cluster form (sm_90): this block's shared::cta address
      // is valid in the cluster window.
      Value dst = LLVM::IntToPtrOp::create(
          b, loc, LLVM::LLVMPointerType::get(b.getContext(), 3),
          ValueRange{
              arith::IndexCastOp::create(b, loc, b.getI64Type(), address)});
      dst = LLVM::AddrSpaceCastOp::create(
          b, loc, LLVM::LLVMPointerType::get(b.getContext(), 7), dst);
      NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
          b, loc, dst, tensorMaps[stageIndex], coordinates, bar,
          /*im2colOffsets=*/ValueRange{}, /*multicastMask=*/Value(),
          /*l2CacheHint=*/Value(), NVVM::TMALoadMode::TILE,
          /*isCTAOnly=*/false, NVVM::CTAGroupKindAttr(), /*predicate=*/Value());
    }
  }
}

void GpuKernelBuilder::emitMbarrierWait(Value barrier, Value parity) {
  NVVM::MBarrierTryWaitParityOp::create(
      b, loc, mbarrierPointer(barrier), parity,
      arith::ConstantIntOp::create(b, loc, 10000000, 32));
}

void GpuKernelBuilder::emitStageCopy(const StagePlan &stage, Value buffer,
                                     Value slot) {
  EinsumOp einsum = stage.reader;
  AffineMap map =
      cast<AffineMapAttr>(einsum.getIndexingMaps()[stage.operand]).getValue();
  Value source = einsum.getInputs()[stage.operand];
  Value global = kernel.getArgument(cast<BlockArgument>(source).getArgNumber());
  Value valid = stage.rowRank == plan.getRowRank() ? queryValid : keyValid;
  int64_t chunksPerRow = stage.width / 8;
  int64_t chunks = stage.rows * chunksPerRow;
  int64_t threads = plan.getThreadsPerBlock();
  Value thread = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  SmallVector<Value> syms = symbols(einsum);
  for (int64_t first = 0; first < chunks; first += threads) {
    Value chunkId = arith::AddIOp::create(b, loc, thread, index(first));
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          chunkId, index(chunks));
    std::optional<OpBuilder::InsertionGuard> guard;
    if (first + threads > chunks) {
      guard.emplace(b);
      auto branch = scf::IfOp::create(b, loc, inRange, false);
      b.setInsertionPointToStart(branch.thenBlock());
    }
    Value row = arith::DivUIOp::create(b, loc, chunkId, index(chunksPerRow));
    Value chunk = arith::RemUIOp::create(b, loc, chunkId, index(chunksPerRow));
    // Rows past the end of their rank read nothing (zero fill) from a row
    // that exists.
    Value rowInside =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row, valid);
    Value clamped = arith::MinUIOp::create(
        b, loc, row, arith::SubIOp::create(b, loc, valid, index(1)));
    SmallVector<Value> dims;
    for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
      if (rank == stage.rowRank)
        dims.push_back(clamped);
      else if (rank == stage.headRank)
        dims.push_back(arith::MulIOp::create(b, loc, chunk, index(8)));
      else if (Value value = fixed.lookup(rank))
        dims.push_back(value);
      else
        dims.push_back(index(0));
    }
    SmallVector<Value> indices;
    for (AffineExpr expr : map.getResults())
      indices.push_back(affine::expandAffineExpr(b, loc, expr, dims, syms));
    Value elements = arith::SelectOp::create(b, loc, rowInside, index(8),
                                             index(0));
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), buffer,
        stageIndicesOfChunk(stage, row, chunk, slot), global, indices,
        b.getIndexAttr(8), elements, UnitAttr());
  }
}

//===----------------------------------------------------------------------===//
// Fragments
//===----------------------------------------------------------------------===//

Value GpuKernelBuilder::columnOf(const FragmentLayout &layout, unsigned j,
                                 unsigned c) {
  (void)layout;
  return arith::AddIOp::create(b, loc, laneColumn, index(8 * j + c));
}

SmallVector<Element>
GpuKernelBuilder::elementsOf(const FragmentLayout &layout) {
  SmallVector<Element> elements;
  Value rows[2] = {laneRow, arith::AddIOp::create(b, loc, laneRow, index(8))};
  if (layout.kind == FragmentLayout::Kind::Scalar) {
    elements.push_back({0, 0, rows[0], Value()});
    return elements;
  }
  if (layout.kind == FragmentLayout::Kind::Rows) {
    for (unsigned r = 0; r < 2; ++r)
      elements.push_back({r, r, rows[r], Value()});
    return elements;
  }
  for (unsigned j = 0; j < layout.columns / 8; ++j)
    for (unsigned r = 0; r < 2; ++r)
      for (unsigned c = 0; c < 2; ++c)
        elements.push_back({static_cast<unsigned>((j * 2 + r) * 2 + c), r,
                            rows[r], columnOf(layout, j, c)});
  return elements;
}

SmallVector<Value> GpuKernelBuilder::coordinates(EinsumOp einsum,
                                                 const FragmentLayout &layout,
                                                 const Element &element,
                                                 bool clamp) {
  SmallVector<Value> dims;
  auto clampTo = [&](Value coordinate, Value valid) {
    if (!clamp)
      return coordinate;
    return arith::MinUIOp::create(
               b, loc, coordinate,
               arith::SubIOp::create(b, loc, valid, index(1)))
        .getResult();
  };
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>()) {
    if (rank == plan.getRowRank()) {
      dims.push_back(clampTo(element.row, queryValid));
    } else if (layout.kind == FragmentLayout::Kind::Tile &&
               rank == layout.columnRank) {
      dims.push_back(rank == plan.getKeyRank()
                         ? clampTo(element.column, keyValid)
                         : element.column);
    } else if (Value value = fixed.lookup(rank)) {
      dims.push_back(value);
    } else {
      dims.push_back(index(0));
    }
  }
  return dims;
}

SmallVector<Value> GpuKernelBuilder::symbols(EinsumOp einsum) {
  SmallVector<Value> values;
  for (StringRef symbol : einsum.getSymbols().getAsValueRange<StringAttr>())
    values.push_back(extents.lookup(symbol));
  return values;
}

Value GpuKernelBuilder::evaluateDataCompares(EinsumOp einsum,
                                             const FragmentLayout &layout,
                                             const Element &element) {
  SmallVector<DataCompareAttr> compares = einsum.getDataCompares();
  if (compares.empty())
    return Value();
  // The ids at the element's row and key (the last ones that exist past
  // the end of their rank; those points are excluded elsewhere).
  SmallVector<Value> dims = coordinates(einsum, layout, element, true);
  SmallVector<Value> syms = symbols(einsum);
  auto load = [&](unsigned index) {
    AffineMap map = einsum.getDataMap(index);
    SmallVector<Value> indices;
    for (AffineExpr expr : map.getResults())
      indices.push_back(affine::expandAffineExpr(b, loc, expr, dims, syms));
    Value data = einsum.getDataInputs()[index];
    Value global =
        kernel.getArgument(cast<BlockArgument>(data).getArgNumber());
    return memref::LoadOp::create(b, loc, global, indices).getResult();
  };
  Value all;
  for (auto [i, compare] : llvm::enumerate(compares)) {
    arith::CmpIPredicate predicate = arith::CmpIPredicate::eq;
    if (compare.getKind() == CompareKind::le)
      predicate = arith::CmpIPredicate::sle;
    else if (compare.getKind() == CompareKind::lt)
      predicate = arith::CmpIPredicate::slt;
    Value holds =
        arith::CmpIOp::create(b, loc, predicate, load(2 * i), load(2 * i + 1));
    all = all ? arith::AndIOp::create(b, loc, all, holds).getResult() : holds;
  }
  return all;
}

Value GpuKernelBuilder::evaluatePredicate(EinsumOp einsum,
                                          const FragmentLayout &layout,
                                          const Element &element) {
  if (predicatesHold)
    return Value();
  Value data = evaluateDataCompares(einsum, layout, element);
  if (einsum.getDisjuncts().empty())
    return data;
  std::optional<unsigned> columnDim;
  if (layout.kind == FragmentLayout::Kind::Tile)
    if (int64_t position = einsum.getRankPosition(layout.columnRank);
        position >= 0)
      columnDim = position;
  Value any = buildAffinePredicate(
      b, loc, einsum, coordinates(einsum, layout, element, false),
      symbols(einsum), columnDim);
  if (data)
    any = arith::AndIOp::create(b, loc, any, data);
  return any;
}

Value GpuKernelBuilder::insideKeys(const FragmentLayout &layout,
                                   const Element &element) {
  if (layout.kind != FragmentLayout::Kind::Tile ||
      layout.columnRank != plan.getKeyRank())
    return Value();
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                               element.column, keyValid);
}

Value GpuKernelBuilder::operandElement(EinsumOp einsum, unsigned operand,
                                       const FragmentLayout &layout,
                                       const Element &element) {
  Value input = einsum.getInputs()[operand];
  Type bodyType = einsum.getBodyBlock().getArgument(operand).getType();
  auto found = fragments.find(input);
  if (found != fragments.end()) {
    const FragmentLayout &own = plan.getLayout(input);
    Value value = own.kind == FragmentLayout::Kind::Scalar
                      ? found->second[0]
                  : own.kind == FragmentLayout::Kind::Rows
                      ? found->second[element.r]
                      : found->second[element.index];
    return convertScalar(b, loc, value, bodyType);
  }
  // A global operand, read at the element's coordinates (rows and keys past
  // the end of their rank read the last one that exists).
  AffineMap map =
      cast<AffineMapAttr>(einsum.getIndexingMaps()[operand]).getValue();
  SmallVector<Value> dims = coordinates(einsum, layout, element, true);
  SmallVector<Value> syms = symbols(einsum);
  SmallVector<Value> indices;
  for (AffineExpr expr : map.getResults())
    indices.push_back(affine::expandAffineExpr(b, loc, expr, dims, syms));
  Value global = kernel.getArgument(cast<BlockArgument>(input).getArgNumber());
  Value loaded = memref::LoadOp::create(b, loc, global, indices);
  return convertScalar(b, loc, loaded, bodyType);
}

Value GpuKernelBuilder::evaluateBody(EinsumOp einsum,
                                     const FragmentLayout &layout,
                                     const Element &element,
                                     ArrayRef<Value> given) {
  SmallVector<Value> dims;
  return cloneEinsumBody(
      b, loc, einsum,
      [&](unsigned i) {
        return i < given.size() && given[i]
                   ? given[i]
                   : operandElement(einsum, i, layout, element);
      },
      [&](StringRef rank) {
        if (dims.empty())
          dims = coordinates(einsum, layout, element, false);
        return dims[einsum.getRankPosition(rank)];
      },
      extents);
}

//===----------------------------------------------------------------------===//
// Einsums
//===----------------------------------------------------------------------===//

Value GpuKernelBuilder::combine(ReduceKind kind, Value accumulator,
                                Value value) {
  return buildReduceCombine(b, loc, kind, accumulator, value);
}

Fragment GpuKernelBuilder::emitMap(EinsumOp einsum,
                                   const GpuEinsumPlan &einsumPlan) {
  Fragment result(einsumPlan.output.getRegisters());
  Value fill = f32(einsum.getFillValue());
  for (const Element &element : elementsOf(einsumPlan.output)) {
    Value value = evaluateBody(einsum, einsumPlan.output, element);
    if (Value holds = evaluatePredicate(einsum, einsumPlan.output, element))
      value = arith::SelectOp::create(b, loc, holds, value, fill);
    result[element.index] = value;
  }
  return result;
}

Fragment GpuKernelBuilder::emitRowReduce(EinsumOp einsum,
                                         const GpuEinsumPlan &einsumPlan) {
  auto reduction =
      cast<ReductionAttr>(einsum.getReductions().getValue().front());
  ReduceKind kind = reduction.getKind();
  FragmentLayout keys = plan.getKeyTileLayout();
  Value identity = f32(getReduceIdentity(kind));
  Value zero = f32(0), one = f32(1);
  Value partial[2] = {identity, identity};
  Value any[2] = {zero, zero};
  for (const Element &element : elementsOf(keys)) {
    Value value = evaluateBody(einsum, keys, element);
    Value inside = insideKeys(keys, element);
    if (Value holds = evaluatePredicate(einsum, keys, element))
      inside = arith::AndIOp::create(b, loc, inside, holds);
    Value combined = combine(kind, partial[element.r], value);
    partial[element.r] =
        arith::SelectOp::create(b, loc, inside, combined, partial[element.r]);
    if (einsumPlan.tracksAny)
      any[element.r] = arith::SelectOp::create(b, loc, inside, one,
                                               any[element.r]);
  }
  // The quad's four lanes hold the row's columns 2t, 2t + 1 of every block.
  Value width = arith::ConstantIntOp::create(b, loc, 32, 32);
  Fragment result(2);
  for (unsigned r = 0; r < 2; ++r) {
    for (int32_t offset : {1, 2}) {
      Value by = arith::ConstantIntOp::create(b, loc, offset, 32);
      Value other = gpu::ShuffleOp::create(b, loc, partial[r], by, width,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      partial[r] = combine(kind, partial[r], other);
      if (einsumPlan.tracksAny) {
        Value otherAny = gpu::ShuffleOp::create(b, loc, any[r], by, width,
                                                gpu::ShuffleMode::XOR)
                             .getShuffleResult();
        any[r] = arith::MaximumFOp::create(b, loc, any[r], otherAny);
      }
    }
    result[r] = partial[r];
    if (einsumPlan.tracksAny) {
      Value some = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                         any[r], zero);
      result[r] = arith::SelectOp::create(b, loc, some, partial[r],
                                          f32(einsum.getFillValue()));
    }
  }
  return result;
}

/// The accumulators of one 8-column block as four f32 registers.
static void unpackAccumulator(OpBuilder &b, Location loc, Value accumulator,
                              unsigned j, Fragment &into) {
  for (unsigned r = 0; r < 2; ++r)
    for (unsigned c = 0; c < 2; ++c)
      into[(j * 2 + r) * 2 + c] = vector::ExtractOp::create(
          b, loc, accumulator, ArrayRef<int64_t>{r, c});
}

SmallVector<Value> GpuKernelBuilder::loadFragmentsA(int64_t stageIndex) {
  const StagePlan &stage = plan.getStages()[stageIndex];
  auto aType = VectorType::get({4, 2}, storage);
  // ldmatrix.x4: lane l gives row 16 w + l % 16 at chunk 2 kk + l / 16.
  Value row = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, warp, index(16)),
      arith::RemUIOp::create(b, loc, lane, index(16)));
  Value half = arith::DivUIOp::create(b, loc, lane, index(16));
  SmallVector<Value> fragments;
  for (int64_t kk = 0; kk < stage.width / 16; ++kk)
    fragments.push_back(nvgpu::LdMatrixOp::create(
        b, loc, aType, stageBuffers[stageIndex],
        stageIndices(stage, row, 2 * kk, half), false, 4));
  return fragments;
}

Fragment GpuKernelBuilder::contract(ArrayRef<Value> fragmentsA,
                                   int64_t columns, const GpuEinsumPlan &plan,
                                   function_ref<LoadedB(int64_t j, int64_t kk,
                                                        bool pair)>
                                       loadB,
                                   ArrayRef<Value> initial) {
  auto cType = VectorType::get({2, 2}, b.getF32Type());
  Value zero = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(cType, b.getF32FloatAttr(0)));
  int64_t blocks = columns / 8, kSteps = fragmentsA.size();
  bool pairs = plan.bMatricesPerLoad == 4;
  SmallVector<Value> accumulators(blocks, zero);
  // Block j's accumulator from registers (j * 2 + r) * 2 + c.
  if (!initial.empty())
    for (int64_t j = 0; j < blocks; ++j)
      accumulators[j] = vector::FromElementsOp::create(
          b, loc, cType, initial.slice(j * 4, 4));
  // Each accumulator sums its k-steps in order, whichever way B is paired.
  auto mma = [&](int64_t j, int64_t kk, Value fragmentB) {
    accumulators[j] = nvgpu::MmaSyncOp::create(
        b, loc, fragmentsA[kk], fragmentB, accumulators[j],
        ArrayRef<int64_t>{16, 8, 16});
  };
  if (plan.kind == GpuEinsumPlan::Kind::MmaShared) {
    // Pairs of k-steps of one 8-column block.
    for (int64_t j = 0; j < blocks; ++j)
      for (int64_t kk = 0; kk < kSteps;) {
        bool pair = pairs && kk + 1 < kSteps;
        LoadedB loaded = loadB(j, kk, pair);
        mma(j, kk, loaded.first);
        if (pair)
          mma(j, kk + 1, loaded.second);
        kk += pair ? 2 : 1;
      }
  } else {
    // Pairs of 8-column blocks, each pair through every k-step.
    for (int64_t j = 0; j < blocks;) {
      bool pair = pairs && j + 1 < blocks;
      for (int64_t kk = 0; kk < kSteps; ++kk) {
        LoadedB loaded = loadB(j, kk, pair);
        mma(j, kk, loaded.first);
        if (pair)
          mma(j + 1, kk, loaded.second);
      }
      j += pair ? 2 : 1;
    }
  }
  Fragment result(columns / 2);
  for (int64_t j = 0; j < blocks; ++j)
    unpackAccumulator(b, loc, accumulators[j], j, result);
  return result;
}

GpuKernelBuilder::LoadedB
GpuKernelBuilder::loadMatricesB(Value buffer, const StagePlan &stage,
                                Value row, int64_t chunkBase, Value laneChunk,
                                bool transpose, bool pair) {
  Type storageType = storage;
  if (!pair) {
    auto bType = VectorType::get({2, 2}, storageType);
    return {nvgpu::LdMatrixOp::create(
                b, loc, bType, buffer,
                stageIndices(stage, row, chunkBase, laneChunk), transpose, 2),
            Value()};
  }
  auto pairType = VectorType::get({4, 2}, storageType);
  Value both = nvgpu::LdMatrixOp::create(
      b, loc, pairType, buffer, stageIndices(stage, row, chunkBase, laneChunk),
      transpose, 4);
  // Rows 0-1 and 2-3, by row extracts and inserts (what upstream's
  // vector-to-LLVM lowers on an array of vectors; a 2-D
  // extract_strided_slice it does not).
  auto bType = VectorType::get({2, 2}, storageType);
  Value empty = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(bType, b.getZeroAttr(storageType)));
  auto half = [&](int64_t first) -> Value {
    Value operand = empty;
    for (int64_t r = 0; r < 2; ++r)
      operand = vector::InsertOp::create(
          b, loc, vector::ExtractOp::create(b, loc, both, first + r), operand,
          r);
    return operand;
  };
  return {half(0), half(2)};
}

Fragment GpuKernelBuilder::emitMmaShared(EinsumOp einsum,
                                         const GpuEinsumPlan &einsumPlan) {
  const StagePlan &stageB = plan.getStages()[einsumPlan.stageB];
  Value bufferB = stageBuffers[einsumPlan.stageB];
  // A: hoisted before the key loop, or read from shared memory now.
  auto found = hoistedA.find(einsumPlan.stageA);
  SmallVector<Value> fragmentsA = found != hoistedA.end()
                                      ? found->second
                                      : loadFragmentsA(einsumPlan.stageA);
  // B: lane l gives key row 8 j + l % 8. ldmatrix.x4 for k-steps kk and
  // kk + 1: chunk 2 kk + l / 8 (matrix l / 8). ldmatrix.x2 for one: chunk
  // 2 kk + (l / 8) % 2 (lanes 16-31 repeat 0-15; x2 ignores them).
  Value keyInBlock = arith::RemUIOp::create(b, loc, lane, index(8));
  Value matrix = arith::DivUIOp::create(b, loc, lane, index(8));
  Value upper = arith::RemUIOp::create(b, loc, matrix, index(2));
  Fragment result = contract(
      fragmentsA, einsumPlan.output.columns, einsumPlan,
      [&](int64_t j, int64_t kk, bool pair) {
        Value row = arith::AddIOp::create(b, loc, keyInBlock, index(8 * j));
        return loadMatricesB(bufferB, stageB, row, 2 * kk,
                             pair ? matrix : upper, false, pair);
      });
  scaleAndMask(einsum, einsumPlan, result);
  return result;
}

void GpuKernelBuilder::scaleAndMask(EinsumOp einsum,
                                    const GpuEinsumPlan &einsumPlan,
                                    Fragment &result) {
  // The body is a * b * s: s is the body at a = b = 1, per element (it may
  // read coordinates); masked points hold the fill value.
  Value one = f32(1);
  Value fill = f32(einsum.getFillValue());
  for (const Element &element : elementsOf(einsumPlan.output)) {
    Value scale = evaluateBody(einsum, einsumPlan.output, element, {one, one});
    Value value = arith::MulFOp::create(b, loc, result[element.index], scale);
    if (Value holds = evaluatePredicate(einsum, einsumPlan.output, element))
      value = arith::SelectOp::create(b, loc, holds, value, fill);
    result[element.index] = value;
  }
}

Value GpuKernelBuilder::wgmmaDescriptor(Value address, int64_t offset,
                                        int64_t leading, int64_t stride) {
  Type i32 = b.getI32Type();
  auto constant = [&](int64_t value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(value));
  };
  // low = (start >> 4) & 0x3fff (bits 0-13) | (leading >> 4) << 16; high =
  // stride >> 4 (bits 32-45) | the 128-byte swizzle (bit 62). The offset is
  // added to the start field: shared addresses stay below 2^18, so the
  // field does not carry into the leading offset.
  Value start = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, address, constant(4)),
      constant(0x3fff));
  start = arith::AddIOp::create(b, loc, start, constant(offset >> 4));
  Value low = arith::OrIOp::create(b, loc, start,
                                   constant((leading >> 4) << 16));
  Value high = constant((stride >> 4) | (1 << 30));
  Value halves = vector::FromElementsOp::create(
      b, loc, VectorType::get({2}, i32), ValueRange{low, high});
  return LLVM::BitcastOp::create(b, loc, b.getI64Type(), halves);
}

Fragment GpuKernelBuilder::emitWgmmaChain(
    int64_t n, int64_t kSteps, function_ref<Value(int64_t)> descriptorA,
    function_ref<Value(int64_t)> descriptorB, NVVM::MMALayout layoutB,
    ArrayRef<Value> initial) {
  MLIRContext *context = b.getContext();
  auto accumulatorType = LLVM::LLVMStructType::getLiteral(
      context, SmallVector<Type>(n / 2, b.getF32Type()));
  auto shape = NVVM::MMAShapeAttr::get(context, 64, n, 16);
  NVVM::WGMMATypes half = storage.isBF16() ? NVVM::WGMMATypes::bf16
                                           : NVVM::WGMMATypes::f16;
  auto typeAttr = [&](NVVM::WGMMATypes type) {
    return NVVM::WGMMATypesAttr::get(context, type);
  };
  auto scaleIn = NVVM::WGMMAScaleInAttr::get(context, NVVM::WGMMAScaleIn::one);
  // The registers were written outside a wgmma chain: fence, then the
  // chain of k-steps (the first ignores an undefined accumulator, or adds
  // to the initial one), one group, and wait for it before any thread
  // reads the accumulators.
  Value accumulator = LLVM::PoisonOp::create(b, loc, accumulatorType);
  for (auto [i, value] : llvm::enumerate(initial))
    accumulator = LLVM::InsertValueOp::create(b, loc, accumulator, value,
                                              ArrayRef<int64_t>{int64_t(i)});
  NVVM::WgmmaFenceAlignedOp::create(b, loc);
  for (int64_t kk = 0; kk < kSteps; ++kk)
    accumulator = NVVM::WgmmaMmaAsyncOp::create(
        b, loc, accumulatorType, accumulator, descriptorA(kk),
        descriptorB(kk), shape, typeAttr(half), typeAttr(half),
        typeAttr(NVVM::WGMMATypes::f32),
        NVVM::WGMMAScaleOutAttr::get(context, kk == 0 && initial.empty()
                                                  ? NVVM::WGMMAScaleOut::zero
                                                  : NVVM::WGMMAScaleOut::one),
        scaleIn, scaleIn,
        NVVM::MMALayoutAttr::get(context, NVVM::MMALayout::row),
        NVVM::MMALayoutAttr::get(context, layoutB),
        NVVM::MMAIntOverflowAttr());
  NVVM::WgmmaGroupSyncAlignedOp::create(b, loc);
  NVVM::WgmmaWaitGroupSyncOp::create(b, loc, 0);
  // Element i of the accumulator is (j = i / 4, r, c) of the Tile layout:
  // register index (j * 2 + r) * 2 + c = i.
  Fragment result(n / 2);
  for (int64_t i = 0; i < n / 2; ++i)
    result[i] = LLVM::ExtractValueOp::create(b, loc, accumulator,
                                             ArrayRef<int64_t>{i});
  return result;
}

Fragment GpuKernelBuilder::emitWarpgroupShared(EinsumOp einsum,
                                               const GpuEinsumPlan &einsumPlan) {
  const StagePlan &stageA = plan.getStages()[einsumPlan.stageA];
  const StagePlan &stageB = plan.getStages()[einsumPlan.stageB];
  // Both operands K-major: the leading byte offset is unused (16); 8-row
  // groups of 128-byte rows are 1024 bytes apart. A is the warpgroup's 64
  // rows of the query stage.
  Value addressA = warpgroupRowsAddress(stageAddress(einsumPlan.stageA));
  Value addressB = stageAddress(einsumPlan.stageB);
  Fragment result = emitWgmmaChain(
      einsumPlan.output.columns, stageA.width / 16,
      [&](int64_t kk) {
        return wgmmaDescriptor(addressA, kMajorOffset(stageA.rows, kk), 16,
                               1024);
      },
      [&](int64_t kk) {
        return wgmmaDescriptor(addressB, kMajorOffset(stageB.rows, kk), 16,
                               1024);
      },
      NVVM::MMALayout::col);
  scaleAndMask(einsum, einsumPlan, result);
  return result;
}

void GpuKernelBuilder::emitWarpgroupStaged(EinsumOp einsum,
                                           const GpuEinsumPlan &einsumPlan) {
  const StagePlan &tile = *plan.getTileStage();
  const StagePlan &stageB = plan.getStages()[einsumPlan.stageB];
  FragmentLayout keys = plan.getKeyTileLayout();
  std::optional<RowScales> scales = rowScalesFor(einsumPlan);
  Fragment operandA = maskedKeyOperand(einsum, einsumPlan.operandA,
                                       scales ? &*scales : nullptr);
  // A second contraction of the step (differential attention's) reuses
  // the tile the first one's wgmma read. That chain was waited for, so
  // its reads are done; the barrier keeps every thread's next stores after
  // every warpgroup's wait without reasoning across warpgroups (the
  // emulator attributes a wgmma's reads to its warpgroup's first thread
  // and would see a race). The first contraction of a step follows the
  // step's own barrier.
  if (tile.reader != einsum)
    emitBarrier();
  // P into the tile stage: the lane's two columns of each 8-key block are
  // one 4-byte store at chunk (key % 64) / 8 ^ (row % 8) of its row in
  // slab key / 64. Each warpgroup writes its own 64 rows, which only its
  // own wgmma reads; the previous chain that read them was waited for.
  auto pairType = VectorType::get({2}, storage);
  Value rowInAtom[2];
  Value rows[2] = {laneRow, arith::AddIOp::create(b, loc, laneRow, index(8))};
  for (unsigned r = 0; r < 2; ++r)
    rowInAtom[r] = arith::RemUIOp::create(b, loc, rows[r], index(8));
  for (int64_t j = 0; j < keys.columns / 8; ++j)
    for (unsigned r = 0; r < 2; ++r) {
      Value pair = vector::FromElementsOp::create(
          b, loc, pairType,
          ValueRange{operandA[(j * 2 + r) * 2], operandA[(j * 2 + r) * 2 + 1]});
      Value chunk = arith::XOrIOp::create(b, loc, index(j % 8), rowInAtom[r]);
      Value column = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, chunk, index(8)), laneColumn);
      Value storedRow =
          arith::AddIOp::create(b, loc, rows[r], index((j / 8) * tile.rows));
      vector::StoreOp::create(b, loc, pair, tileStageBuffer,
                              ValueRange{index(0), storedRow, column},
                              /*nontemporal=*/false,
                              b.getI64IntegerAttr(4));
    }
  // The stores went through the generic proxy and wgmma reads through the
  // async one: every writer fences, then the block waits for all writers.
  emitAsyncProxyFence();
  emitBarrier();
  // A: the warpgroup's 64 rows of the tile stage, K-major (as S's A). B:
  // V's stage as an N-major operand: 64 head columns per 128-byte row (one
  // key), 8 keys per 1024-byte atom (the stride byte offset), the next 64
  // head columns one slab further (the leading byte offset); k-step kk
  // (keys 16 kk ..) starts 16 rows, 2048 bytes, in.
  Value addressA = warpgroupRowsAddress(sharedAddress(tileStageBuffer));
  Value addressB = stageAddress(einsumPlan.stageB);
  Fragment result = emitWgmmaChain(
      einsumPlan.output.columns, keys.columns / 16,
      [&](int64_t kk) {
        return wgmmaDescriptor(addressA, kMajorOffset(tile.rows, kk), 16,
                               1024);
      },
      [&](int64_t kk) {
        return wgmmaDescriptor(addressB, kk * 16 * 128, stageB.rows * 128,
                               1024);
      },
      NVVM::MMALayout::row, accumulationStart(einsumPlan, scales));
  finishKeyContraction(einsum, einsumPlan, std::move(result), scales);
}

Fragment
GpuKernelBuilder::accumulationStart(const GpuEinsumPlan &einsumPlan,
                                    const std::optional<RowScales> &scales) {
  if (!einsumPlan.accumulatesInto)
    return Fragment();
  EinsumOp map = einsumPlan.accumulatesInto;
  const GpuEinsumPlan &mapPlan = plan.getEinsum(map);
  SmallVector<Value> given(map.getInputs().size());
  given[mapPlan.accumulatorOperand] = f32(0);
  Fragment start(einsumPlan.output.getRegisters());
  for (const Element &element : elementsOf(mapPlan.output))
    start[element.index] = evaluateBody(map, mapPlan.output, element, given);
  if (scales)
    scaleRows(start, einsumPlan.output, scales->scale);
  return start;
}

void GpuKernelBuilder::finishKeyContraction(EinsumOp einsum,
                                            const GpuEinsumPlan &einsumPlan,
                                            Fragment result,
                                            const std::optional<RowScales> &scales) {
  if (scales)
    scaleRows(result, einsumPlan.output, scales->inverse);
  if (einsumPlan.accumulatesInto) {
    // The body is a * b: nothing to scale; the map's value is the sum.
    EinsumOp map = einsumPlan.accumulatesInto;
    fragments[map.getResult()] = std::move(result);
    return;
  }
  Value one = f32(1);
  for (const Element &element : elementsOf(einsumPlan.output)) {
    Value scale = evaluateBody(einsum, einsumPlan.output, element, {one, one});
    result[element.index] =
        arith::MulFOp::create(b, loc, result[element.index], scale);
  }
  fragments[einsum.getResult()] = std::move(result);
}

Fragment GpuKernelBuilder::maskedKeyOperand(EinsumOp einsum,
                                            unsigned operand,
                                            RowScales *scales) {
  FragmentLayout keys = plan.getKeyTileLayout();
  const Fragment &values = fragments.lookup(einsum.getInputs()[operand]);
  Value zero = f32(0);
  Fragment masked(values.size());
  for (const Element &element : elementsOf(keys)) {
    Value inside = insideKeys(keys, element);
    if (Value holds = evaluatePredicate(einsum, keys, element))
      inside = arith::AndIOp::create(b, loc, inside, holds);
    masked[element.index] =
        arith::SelectOp::create(b, loc, inside, values[element.index], zero);
  }
  if (scales) {
    // The row's largest magnitude (a quad holds the row), and 2^-k with k
    // = max(0, e - 14) for its exponent e: the row times 2^-k is below
    // 2^15, within f16's range. Powers of two scale exactly; an infinite
    // or NaN row stays so (k = 114).
    Value top[2] = {zero, zero};
    for (const Element &element : elementsOf(keys))
      top[element.r] = arith::MaximumFOp::create(
          b, loc, top[element.r],
          math::AbsFOp::create(b, loc, masked[element.index]));
    Type i32 = b.getI32Type();
    auto constant = [&](int32_t value) {
      return arith::ConstantIntOp::create(b, loc, value, 32).getResult();
    };
    Value width = constant(32);
    for (unsigned r = 0; r < 2; ++r) {
      for (int32_t offset : {1, 2})
        top[r] = arith::MaximumFOp::create(
            b, loc, top[r],
            gpu::ShuffleOp::create(b, loc, top[r], constant(offset), width,
                                   gpu::ShuffleMode::XOR)
                .getShuffleResult());
      Value biased = arith::AndIOp::create(
          b, loc,
          arith::ShRUIOp::create(
              b, loc, arith::BitcastOp::create(b, loc, i32, top[r]),
              constant(23)),
          constant(0xff));
      Value k = arith::MaxSIOp::create(
          b, loc, arith::SubIOp::create(b, loc, biased, constant(127 + 14)),
          constant(0));
      auto powerOfTwo = [&](Value exponent) {
        return arith::BitcastOp::create(
                   b, loc, b.getF32Type(),
                   arith::ShLIOp::create(b, loc, exponent, constant(23)))
            .getResult();
      };
      scales->scale[r] =
          powerOfTwo(arith::SubIOp::create(b, loc, constant(127), k));
      scales->inverse[r] =
          powerOfTwo(arith::AddIOp::create(b, loc, constant(127), k));
    }
    for (const Element &element : elementsOf(keys))
      masked[element.index] = arith::MulFOp::create(
          b, loc, masked[element.index], scales->scale[element.r]);
  }
  Fragment rounded(values.size());
  for (const Element &element : elementsOf(keys))
    rounded[element.index] =
        arith::TruncFOp::create(b, loc, storage, masked[element.index]);
  return rounded;
}

std::optional<RowScales>
GpuKernelBuilder::rowScalesFor(const GpuEinsumPlan &einsumPlan) {
  if (!einsumPlan.scalesOperandRows || !storage.isF16())
    return std::nullopt;
  return RowScales();
}

void GpuKernelBuilder::scaleRows(Fragment &fragment,
                                 const FragmentLayout &layout,
                                 const Value factor[2]) {
  if (fragment.empty())
    return;
  for (const Element &element : elementsOf(layout))
    fragment[element.index] = arith::MulFOp::create(
        b, loc, fragment[element.index], factor[element.r]);
}

void GpuKernelBuilder::emitMmaRegisters(EinsumOp einsum,
                                        const GpuEinsumPlan &einsumPlan) {
  const StagePlan &stageB = plan.getStages()[einsumPlan.stageB];
  Value bufferB = stageBuffers[einsumPlan.stageB];
  auto aType = VectorType::get({4, 2}, storage);
  FragmentLayout keys = plan.getKeyTileLayout();
  // A: the tile's elements where the predicate holds and the key exists
  // (else 0: nothing to add), rounded to the operand type. Accumulator
  // blocks 2 kk and 2 kk + 1 are A's columns 0-7 and 8-15 of k-step kk.
  std::optional<RowScales> scales = rowScalesFor(einsumPlan);
  Fragment operandA = maskedKeyOperand(einsum, einsumPlan.operandA,
                                       scales ? &*scales : nullptr);
  int64_t kSteps = keys.columns / 16;
  SmallVector<Value> fragmentsA;
  for (int64_t kk = 0; kk < kSteps; ++kk) {
    SmallVector<Value> halves;
    for (int64_t j : {2 * kk, 2 * kk + 1})
      for (unsigned r = 0; r < 2; ++r)
        for (unsigned c = 0; c < 2; ++c)
          halves.push_back(operandA[(j * 2 + r) * 2 + c]);
    fragmentsA.push_back(vector::FromElementsOp::create(b, loc, aType, halves));
  }
  // B: lane l gives key row 16 kk + l % 16. ldmatrix.x4.trans for the
  // 8-column blocks j and j + 1: chunk j + l / 16. ldmatrix.x2.trans for one:
  // chunk j (lanes 16-31 repeat 0-15; x2 ignores them).
  Value keyRow = arith::RemUIOp::create(b, loc, lane, index(16));
  Value upperHalf = arith::DivUIOp::create(b, loc, lane, index(16));
  Fragment result = contract(
      fragmentsA, einsumPlan.output.columns, einsumPlan,
      [&](int64_t j, int64_t kk, bool pair) {
        Value row = arith::AddIOp::create(b, loc, keyRow, index(16 * kk));
        return loadMatricesB(bufferB, stageB, row, j,
                             pair ? upperHalf : Value(), true, pair);
      },
      accumulationStart(einsumPlan, scales));
  finishKeyContraction(einsum, einsumPlan, std::move(result), scales);
}

LogicalResult GpuKernelBuilder::emitEinsum(EinsumOp einsum) {
  const GpuEinsumPlan &einsumPlan = plan.getEinsum(einsum);
  // The contraction before it computed it (accumulatedBy), or emitted it
  // first (emittedBefore). A step's body is emitted twice (full and
  // masked tiles), so an early emission is skipped once.
  if (einsumPlan.accumulatedBy || emittedEarly.erase(einsum.getOperation()))
    return success();
  for (EinsumOp moved : einsumPlan.emittedBefore) {
    if (failed(emitEinsum(moved)))
      return failure();
    emittedEarly.insert(moved.getOperation());
  }
  Fragment result;
  switch (einsumPlan.kind) {
  case GpuEinsumPlan::Kind::Map:
    result = emitMap(einsum, einsumPlan);
    break;
  case GpuEinsumPlan::Kind::RowReduce:
    result = emitRowReduce(einsum, einsumPlan);
    break;
  case GpuEinsumPlan::Kind::MmaShared:
    result = emitMmaShared(einsum, einsumPlan);
    break;
  case GpuEinsumPlan::Kind::MmaRegisters:
    emitMmaRegisters(einsum, einsumPlan);
    return success();
  case GpuEinsumPlan::Kind::WarpgroupShared:
    result = emitWarpgroupShared(einsum, einsumPlan);
    break;
  case GpuEinsumPlan::Kind::WarpgroupStaged:
    emitWarpgroupStaged(einsum, einsumPlan);
    return success();
  }
  fragments[einsum.getResult()] = result;
  return success();
}

LogicalResult GpuKernelBuilder::emitBlock(Block &block) {
  for (Operation &op : block) {
    if (isa<YieldOp, PartitionOp>(op))
      continue;
    if (auto iterate = dyn_cast<IterateOp>(op)) {
      if (failed(emitIterate(iterate)))
        return failure();
      continue;
    }
    if (failed(emitEinsum(cast<EinsumOp>(op))))
      return failure();
  }
  return success();
}

/// The carried fragments flattened, in the iterate's order.
static SmallVector<Value> flatten(ArrayRef<Fragment> carried) {
  SmallVector<Value> flat;
  for (const Fragment &fragment : carried)
    llvm::append_range(flat, fragment);
  return flat;
}

LogicalResult GpuKernelBuilder::emitStep(IterateOp iterate) {
  return emitBlock(iterate.getBodyBlock());
}

std::pair<Value, Value> GpuKernelBuilder::emitIdRange(unsigned read,
                                                      int64_t tile,
                                                      Value count) {
  EinsumOp reader = idBounds->reader;
  StringRef varies = idBounds->varies[read];
  Value global = kernel.getArgument(
      cast<BlockArgument>(reader.getDataInputs()[read]).getArgNumber());
  auto idType = cast<IntegerType>(
      cast<MemRefType>(global.getType()).getElementType());
  Type i64 = b.getI64Type();
  auto widen = [&](Value id) {
    return idType.getWidth() == 64
               ? id
               : arith::ExtSIOp::create(b, loc, i64, id).getResult();
  };
  // The read's global index: the varying rank at `coordinate`, the others
  // fixed for the block or the key step (the plan checked).
  auto load = [&](Value coordinate) {
    SmallVector<Value> dims;
    for (StringRef rank : reader.getRanks().getAsValueRange<StringAttr>()) {
      Value value = rank == varies ? coordinate : fixed.lookup(rank);
      dims.push_back(value ? value : index(0));
    }
    SmallVector<Value> syms = symbols(reader);
    SmallVector<Value> indices;
    for (AffineExpr expr : reader.getDataMap(read).getResults())
      indices.push_back(affine::expandAffineExpr(b, loc, expr, dims, syms));
    return memref::LoadOp::create(b, loc, global, indices).getResult();
  };
  if (varies.empty()) {
    Value id = widen(load(index(0)));
    return {id, id};
  }
  unsigned bits = idType.getWidth();
  Value lowest = arith::ConstantIntOp::create(
      b, loc, idType, llvm::APInt::getSignedMaxValue(bits).getSExtValue());
  Value highest = arith::ConstantIntOp::create(
      b, loc, idType, llvm::APInt::getSignedMinValue(bits).getSExtValue());
  Value low = lowest, high = highest;
  // Lane l reads coordinates l, l + 32, ...; those past `count` read the
  // last valid one (in bounds) and count as the identities.
  Value lastValid = arith::SubIOp::create(b, loc, count, index(1));
  for (int64_t first = 0; first < tile; first += 32) {
    Value coordinate = arith::AddIOp::create(b, loc, lane, index(first));
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                         coordinate, count);
    Value id =
        load(arith::MinUIOp::create(b, loc, coordinate, lastValid));
    low = arith::MinSIOp::create(
        b, loc, low, arith::SelectOp::create(b, loc, inside, id, lowest));
    high = arith::MaxSIOp::create(
        b, loc, high, arith::SelectOp::create(b, loc, inside, id, highest));
  }
  Value width = arith::ConstantIntOp::create(b, loc, b.getI32Type(), 32);
  for (int64_t by = 16; by >= 1; by /= 2) {
    Value offset = arith::ConstantIntOp::create(b, loc, b.getI32Type(), by);
    Value otherLow = gpu::ShuffleOp::create(b, loc, low, offset, width,
                                            gpu::ShuffleMode::XOR)
                         .getShuffleResult();
    Value otherHigh = gpu::ShuffleOp::create(b, loc, high, offset, width,
                                             gpu::ShuffleMode::XOR)
                          .getShuffleResult();
    low = arith::MinSIOp::create(b, loc, low, otherLow);
    high = arith::MaxSIOp::create(b, loc, high, otherHigh);
  }
  return {widen(low), widen(high)};
}

DataCompareClass GpuKernelBuilder::classifyByIds(Value step) {
  PartitionOp keys = plan.getSchedule().getWork().keyPartition;
  Value saved = fixed.lookup(keys.getOuter());
  fixed[keys.getOuter()] = step;
  Value count = arith::MinUIOp::create(
      b, loc, index(keys.getTile()),
      arith::SubIOp::create(
          b, loc, extents.lookup(keys.getRank()),
          arith::MulIOp::create(b, loc, step, index(keys.getTile()))));
  SmallVector<std::pair<Value, Value>> ranges(queryIdRanges);
  for (auto [read, varies] : llvm::enumerate(idBounds->varies))
    if (varies == keys.getInner())
      ranges[read] = emitIdRange(read, keys.getTile(), count);
  if (saved)
    fixed[keys.getOuter()] = saved;
  else
    fixed.erase(keys.getOuter());
  EinsumOp reader = idBounds->reader;
  return buildDataCompareClass(b, loc, reader.getDataCompares(), ranges);
}

LogicalResult GpuKernelBuilder::emitIterate(IterateOp iterate) {
  PartitionOp keys = plan.getSchedule().getWork().keyPartition;
  Value steps = extents.lookup(keys.getOuter());
  std::optional<TileScheduleAttr> tiles = iterate.getTiles();
  FailureOr<KeyTileLoopBounds> bounds = buildBlockKeyTileBounds(
      b, loc, iterate, plan.getSchedule().getWork().queryPartition, fixed,
      extents, steps);
  if (failed(bounds))
    return failure();
  Value first = bounds->first, last = bounds->last;
  SmallVector<std::pair<Value, Value>> visited = bounds->visited,
                                       full = bounds->full;
  // Data comparisons (document ids): the plan says which read varies with
  // which tile. The ranges over the query tile are taken once, here; each
  // key tile is classified from its own ranges as skipped, unmasked or
  // masked (the CPU kernel's rule, buildDataCompareClass).
  idBounds = nullptr;
  const std::optional<DataBoundsPlan> &ids =
      plan.getSchedule().getDataBounds();
  if (ids && ids->reader->getParentOp() == iterate) {
    idBounds = &*ids;
    PartitionOp query = plan.getSchedule().getWork().queryPartition;
    queryIdRanges.assign(ids->varies.size(), {});
    for (auto [read, varies] : llvm::enumerate(ids->varies))
      if (varies.empty() || varies == query.getInner())
        queryIdRanges[read] = emitIdRange(read, query.getTile(), queryValid);
  } else if (tiles && tiles->getData() && !tiles->getData().empty()) {
    return iterate.emitError("the tile schedule lists data comparisons the "
                             "plan has no id bounds for");
  }
  SmallVector<Fragment> inits;
  for (Value init : iterate.getInits())
    inits.push_back(fragments.lookup(init));
  SmallVector<Value> flatInits = flatten(inits);
  int64_t slots = plan.getKeySlots();
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  auto slotOf = [&](Value step) {
    return slots == 1 ? index(0)
                      : arith::RemUIOp::create(b, loc, step, index(slots))
                            .getResult();
  };
  auto inAny = [&](ArrayRef<std::pair<Value, Value>> intervals, Value at) {
    Value any;
    for (auto [from, to] : intervals) {
      Value in = arith::AndIOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, at, from),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, at, to));
      any = any ? arith::OrIOp::create(b, loc, any, in).getResult() : in;
    }
    return any;
  };
  Type i1 = b.getI1Type();
  // Whether key step `at` runs at all: it lies in some visited range of a
  // union and no id comparison fails on its whole tile (`idNever`). Null
  // when every step of the loop runs. The value is uniform over the block,
  // so the copies and the work it guards may sit under an scf.if.
  auto runs = [&](Value at, Value idNever) -> Value {
    Value run = visited.size() > 1 ? inAny(visited, at) : Value();
    if (idNever) {
      Value some = arith::XOrIOp::create(
          b, loc, idNever, arith::ConstantIntOp::create(b, loc, 1, 1));
      run = run ? arith::AndIOp::create(b, loc, run, some).getResult() : some;
    }
    return run;
  };
  auto copiesIf = [&](Value run, Value at, Value slot) {
    emitKeyStepCopies(at, slot, run);
  };
  bool keyTma = llvm::any_of(plan.getStages(), [](const StagePlan &stage) {
    return stage.perKeyStep && stage.tma;
  });
  // The id class of step `at` where `exists`; (never, not always) past the
  // last step, whose ids must not be read.
  auto idClassIf = [&](Value exists, Value at) {
    auto branch = scf::IfOp::create(b, loc, TypeRange{i1, i1}, exists, true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    DataCompareClass byIds = classifyByIds(at);
    scf::YieldOp::create(b, loc, ValueRange{byIds.never, byIds.always});
    b.setInsertionPointToStart(branch.elseBlock());
    scf::YieldOp::create(b, loc,
                         ValueRange{arith::ConstantIntOp::create(b, loc, 1, 1),
                                    arith::ConstantIntOp::create(b, loc, 0, 1)});
    return DataCompareClass{branch.getResult(0), branch.getResult(1)};
  };
  // With two slots the id class of the next step is taken where its copies
  // are issued and carried into that step (two i1 after the fragments).
  bool carriesIdClass = idBounds && slots > 1;
  SmallVector<Value> loopInits = flatInits;
  if (slots > 1) {
    // The prologue: the first visited step's tiles are in flight before
    // the loop.
    Value any =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, first, last);
    DataCompareClass firstClass;
    if (carriesIdClass) {
      firstClass = idClassIf(any, first);
      loopInits.append({firstClass.never, firstClass.always});
    }
    auto prologue = scf::IfOp::create(b, loc, any, false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(prologue.thenBlock());
    copiesIf(runs(first, firstClass.never), first, slotOf(first));
    if (plan.usesCpAsync())
      nvgpu::DeviceAsyncCreateGroupOp::create(b, loc, tokenType, ValueRange{});
  }
  auto loop = scf::ForOp::create(b, loc, first, last, index(1), loopInits);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(loop.getBody());
  Value step = loop.getInductionVar();
  fixed[keys.getOuter()] = step;
  Value keyFirst = arith::MulIOp::create(b, loc, step, index(keys.getTile()));
  keyValid = arith::MinUIOp::create(
      b, loc, index(keys.getTile()),
      arith::SubIOp::create(b, loc, extents.lookup(keys.getRank()), keyFirst));
  readSlot = slotOf(step);
  DataCompareClass stepClass, nextClass;
  ValueRange carried = loop.getRegionIterArgs().take_front(flatInits.size());
  if (carriesIdClass)
    stepClass = {loop.getRegionIterArgs()[flatInits.size()],
                 loop.getRegionIterArgs()[flatInits.size() + 1]};
  if (slots == 1 && idBounds)
    stepClass = classifyByIds(step);
  Value stepRuns = runs(step, stepClass.never);
  // Every thread is done with the previous step, whose slot the copies
  // below overwrite.
  emitBarrier();
  // Every step of the loop arrives once on its slot's mbarrier (with no
  // bytes when it does not run), so the phases of slot s's mbarrier before
  // step i's are the earlier steps in s: (i - first) / slots of them.
  Value stepParity;
  if (keyTma)
    stepParity = arith::IndexCastOp::create(
        b, loc, b.getI32Type(),
        arith::AndIOp::create(
            b, loc,
            arith::DivUIOp::create(
                b, loc, arith::SubIOp::create(b, loc, step, first),
                index(slots)),
            index(1)));
  if (slots == 1) {
    copiesIf(stepRuns, step, readSlot);
    emitCopyWait(0);
    if (keyTma)
      emitMbarrierWait(index(1), stepParity);
  } else {
    // Copy step + 1 into the other slot while this step computes: wait for
    // all but that newest group (an empty group after the last step, and
    // for a step that does not run).
    Value next = arith::AddIOp::create(b, loc, step, index(1));
    Value more =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, next, last);
    if (carriesIdClass)
      nextClass = idClassIf(more, next);
    {
      auto prefetch = scf::IfOp::create(b, loc, more, false);
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(prefetch.thenBlock());
      copiesIf(runs(next, nextClass.never), next, slotOf(next));
    }
    emitCopyWait(1);
    if (keyTma)
      emitMbarrierWait(arith::AddIOp::create(b, loc, readSlot, index(1)),
                       stepParity);
  }
  // Every thread's copies of this step have landed.
  emitBarrier();

  // The carried fragments inside the step.
  Block &body = iterate.getBodyBlock();
  unsigned position = 0;
  for (auto [argument, init] : llvm::zip(body.getArguments(), inits)) {
    Fragment fragment;
    for (unsigned i = 0; i < init.size(); ++i)
      fragment.push_back(loop.getRegionIterArgs()[position++]);
    fragments[argument] = fragment;
  }
  auto yielded = [&]() {
    auto yield = cast<YieldOp>(body.getTerminator());
    SmallVector<Fragment> values;
    for (Value value : yield.getValues())
      values.push_back(fragments.lookup(value));
    return flatten(values);
  };
  SmallVector<Type> types(flatInits.size(), b.getF32Type());
  // Inside some range's full bounds, and with ids where every comparison
  // holds on the whole pair, no predicate is evaluated.
  Value isFullTile = full.empty() ? Value() : inAny(full, step);
  if (isFullTile && idBounds)
    isFullTile =
        arith::AndIOp::create(b, loc, isFullTile, stepClass.always);
  auto emitSteps = [&]() -> FailureOr<SmallVector<Value>> {
    if (!isFullTile) {
      if (failed(emitStep(iterate)))
        return failure();
      return yielded();
    }
    auto withFull = scf::IfOp::create(b, loc, types, isFullTile, true);
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(withFull.thenBlock());
    predicatesHold = true;
    LogicalResult emitted = emitStep(iterate);
    predicatesHold = false;
    if (failed(emitted))
      return failure();
    scf::YieldOp::create(b, loc, yielded());
    b.setInsertionPointToStart(withFull.elseBlock());
    if (failed(emitStep(iterate)))
      return failure();
    scf::YieldOp::create(b, loc, yielded());
    return SmallVector<Value>(withFull.getResults());
  };
  SmallVector<Value> results;
  if (stepRuns) {
    // A step outside every range of a union, or whose ids never match,
    // keeps the carried values and does no work.
    auto running = scf::IfOp::create(b, loc, types, stepRuns, true);
    b.setInsertionPointToStart(running.thenBlock());
    FailureOr<SmallVector<Value>> stepResults = emitSteps();
    if (failed(stepResults))
      return failure();
    scf::YieldOp::create(b, loc, *stepResults);
    b.setInsertionPointToStart(running.elseBlock());
    scf::YieldOp::create(b, loc, carried);
    b.setInsertionPointAfter(running);
    results.assign(running.getResults().begin(), running.getResults().end());
  } else {
    FailureOr<SmallVector<Value>> stepResults = emitSteps();
    if (failed(stepResults))
      return failure();
    results = *stepResults;
  }
  if (carriesIdClass)
    results.append({nextClass.never, nextClass.always});
  scf::YieldOp::create(b, loc, results);
  // The iterate's results after the loop.
  position = 0;
  for (auto [result, init] : llvm::zip(iterate.getCarriedResults(), inits)) {
    Fragment fragment;
    for (unsigned i = 0; i < init.size(); ++i)
      fragment.push_back(loop.getResult(position++));
    fragments[result] = fragment;
  }
  fixed.erase(keys.getOuter());
  b.setInsertionPointAfter(loop);
  return success();
}

void GpuKernelBuilder::emitResultStore(unsigned resultIndex) {
  const GpuResultPlan &result = plan.getResults()[resultIndex];
  Value out = getOutputArgument(resultIndex);
  const FragmentLayout &layout = plan.getLayout(result.tile);
  PartitionOp query = plan.getSchedule().getWork().queryPartition;
  const Fragment &values = fragments.lookup(result.tile);
  Value rowStart = arith::MulIOp::create(b, loc, fixed.lookup(query.getOuter()),
                                         index(query.getTile()));
  // The 4 lanes of a quad hold the same row values.
  Value quadLeader;
  if (layout.kind == FragmentLayout::Kind::Rows)
    quadLeader = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(b, loc, lane, index(4)), index(0));
  Type elementType = cast<MemRefType>(out.getType()).getElementType();
  for (const Element &element : elementsOf(layout)) {
    SmallVector<Value> indices;
    for (StringRef rank : result.ranks) {
      if (rank == query.getRank())
        indices.push_back(arith::AddIOp::create(b, loc, rowStart, element.row));
      else if (rank == layout.columnRank)
        indices.push_back(element.column);
      else
        indices.push_back(fixed.lookup(rank));
    }
    Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                         element.row, queryValid);
    if (quadLeader)
      inside = arith::AndIOp::create(b, loc, inside, quadLeader);
    auto branch = scf::IfOp::create(b, loc, inside, false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(branch.thenBlock());
    Value value = convertScalar(b, loc, values[element.index], elementType);
    memref::StoreOp::create(b, loc, value, out, indices);
  }
}

LogicalResult GpuKernelBuilder::build() {
  if (failed(createKernel()) || failed(computeExtents()))
    return failure();
  computeItemCoordinates();
  if (plan.usesTma())
    emitMbarrierInit();
  // Tiles staged once per item, and the A fragments read from them.
  bool anyPerItem = false;
  SmallVector<unsigned> perItemTma;
  for (auto [i, stage] : llvm::enumerate(plan.getStages())) {
    if (stage.perKeyStep)
      continue;
    anyPerItem = true;
    if (stage.tma)
      perItemTma.push_back(i);
    else
      emitStageCopy(stage, stageBuffers[i], index(0));
  }
  if (!perItemTma.empty())
    emitTmaCopies(perItemTma, index(0), index(0), Value());
  if (anyPerItem) {
    emitCopyWait(0);
    if (!perItemTma.empty())
      emitMbarrierWait(index(0), arith::ConstantIntOp::create(b, loc, 0, 32));
    emitBarrier();
    for (auto [i, stage] : llvm::enumerate(plan.getStages()))
      if (stage.hoistFragments)
        hoistedA[i] = loadFragmentsA(i);
  }
  GridOp grid = plan.getSchedule().getGrid();
  // Einsums outside the grid: one value per block.
  for (Operation &op : source.getBody().front())
    if (auto einsum = dyn_cast<EinsumOp>(op))
      if (failed(emitEinsum(einsum)))
        return failure();
  if (failed(emitBlock(grid.getBodyBlock())))
    return failure();
  for (unsigned i = 0; i < plan.getResults().size(); ++i)
    emitResultStore(i);
  gpu::ReturnOp::create(b, loc);
  return success();
}

LogicalResult mlir::cascade::buildGpuKernel(func::FuncOp function,
                                            const GpuPlan &plan,
                                            Type storageType) {
  GpuKernelBuilder builder(function, plan, storageType);
  return builder.build();
}

/*===- cascade-c/Cascade.h - Cascade's C API ----------------------*- C -*-===*\
|*                                                                            *|
|* The C interface to Cascade, in MLIR's C API conventions (mlir-c/IR.h):     *|
|* opaque handles passed by value, MlirStringRef for strings, errors through  *|
|* an MlirStringCallback, nothing that throws or aborts on bad input. Built   *|
|* into libCascadeCAPI.so, which also carries MLIR's core C API (contexts,    *|
|* modules, parsing), so a binding links this one library.                    *|
|*                                                                            *|
|*   MlirDialectRegistry registry = mlirDialectRegistryCreate();              *|
|*   cascadeRegisterAllDialects(registry);                                    *|
|*   MlirContext context = mlirContextCreateWithRegistry(registry, false);    *|
|*   MlirModule module = mlirModuleCreateParse(context, specText);            *|
|*   CascadeCpuOptions options = cascadeCpuOptionsGetDefault();               *|
|*   ... head dimensions ...                                                  *|
|*   CascadeKernel kernel = cascadeKernelCompile(module, name, &options,      *|
|*                                               onError, userData);          *|
|*   cascadeKernelRun(kernel, 3, inputs, output, threads, onError, userData); *|
|*   cascadeKernelDestroy(kernel);                                            *|
|*                                                                            *|
|* docs/Embedding.md describes it; examples/embedding/capi-attention.c uses   *|
|* it.                                                                        *|
\*===----------------------------------------------------------------------===*/

#ifndef CASCADE_C_CASCADE_H
#define CASCADE_C_CASCADE_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===*
 * Registration
 *===----------------------------------------------------------------------===*/

/** The `cascade` dialect alone: mlirGetDialectHandle__cascade__(). */
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Cascade, cascade);

/** The `cascade` dialect and every upstream dialect and extension (what
 * attn-opt registers). */
MLIR_CAPI_EXPORTED void cascadeRegisterAllDialects(MlirDialectRegistry registry);

/** Upstream's passes, Cascade's rewrites and conversions, and the
 * `cascade-to-cpu` pipeline, for mlirParsePassPipeline. Idempotent. */
MLIR_CAPI_EXPORTED void cascadeRegisterAllPasses(void);

/*===----------------------------------------------------------------------===*
 * CPU kernels
 *===----------------------------------------------------------------------===*/

/** What `cascade-to-cpu` compiles for (docs/CPU.md, "Options"). */
typedef struct CascadeCpuOptions {
  /** "native" (default), "x86-64-v4" (AVX-512), "x86-64-v3" (AVX2), or an
   * x86-64 CPU name LLVM knows. */
  MlirStringRef cpu;
  /** "f32" (default), "f16" or "bf16": the element type of every tensor
   * buffer the kernel reads and writes. */
  MlirStringRef storageType;
  /** Query rows per work item and key rows per step (default 64 each). */
  int64_t queryTile, keyTile;
  /** The compile-time head dimensions: names[i] = sizes[i] (e = 64). */
  intptr_t numHeadDims;
  const MlirStringRef *headDimNames;
  const int64_t *headDimSizes;
} CascadeCpuOptions;

/** The defaults: native CPU, f32, tiles of 64, no head dimensions. */
MLIR_CAPI_EXPORTED CascadeCpuOptions cascadeCpuOptionsGetDefault(void);

/** A compiled kernel; owns what it needs (it copies the function), so the
 * module may be destroyed after compiling. */
typedef struct CascadeKernel {
  void *ptr;
} CascadeKernel;

static inline bool cascadeKernelIsNull(CascadeKernel kernel) {
  return !kernel.ptr;
}

/** Compiles function `entry` of `module` (a cascade spec) for the CPU and
 * JIT-links it. On failure returns a null kernel and calls `onError` (if
 * not NULL) with each diagnostic, located in the spec. */
MLIR_CAPI_EXPORTED CascadeKernel cascadeKernelCompile(
    MlirModule module, MlirStringRef entry, const CascadeCpuOptions *options,
    MlirStringCallback onError, void *userData);

MLIR_CAPI_EXPORTED void cascadeKernelDestroy(CascadeKernel kernel);

/** The number of inputs the kernel takes (the spec's arguments), and the
 * rank of each (0: a runtime extent, passed as an int64_t). */
MLIR_CAPI_EXPORTED intptr_t cascadeKernelGetNumInputs(CascadeKernel kernel);
MLIR_CAPI_EXPORTED intptr_t cascadeKernelGetInputRank(CascadeKernel kernel,
                                                      intptr_t input);
MLIR_CAPI_EXPORTED intptr_t cascadeKernelGetResultRank(CascadeKernel kernel);

/** The element type of input `input`'s view: the storage type ("f32",
 * "f16", "bf16") for float tensors, "i32" or "i64" for tensors of ids (the
 * reads of data comparisons, passed as they are), "" for a runtime extent
 * or an index out of range. The string lives as long as the kernel. */
MLIR_CAPI_EXPORTED MlirStringRef
cascadeKernelGetInputElementType(CascadeKernel kernel, intptr_t input);

/** A caller's buffer, read or written in place: `data` is the address of
 * element [0, ..., 0] (elements of the input's element type, see
 * cascadeKernelGetInputElementType; the output's is the storage type), `sizes` and
 * `strides` (in elements; the innermost stride must be 1) have `rank`
 * entries. A runtime extent is rank 0 with `data` pointing to an
 * int64_t. */
typedef struct CascadeBufferView {
  void *data;
  intptr_t rank;
  const int64_t *sizes;
  const int64_t *strides;
} CascadeBufferView;

typedef enum CascadeStatus {
  CASCADE_STATUS_OK = 0,
  /** A null kernel, a wrong number of inputs, a view of the wrong rank or
   * without data, a tensor where a scalar goes or the other way round. */
  CASCADE_STATUS_INVALID_ARGUMENT = 1,
  /** The views break the kernel's shape contract (its generated check):
   * sizes, head dimensions, extents that disagree, a read out of bounds,
   * an innermost stride other than 1. Nothing was written. */
  CASCADE_STATUS_SHAPE_MISMATCH = 2,
} CascadeStatus;

/** Runs the kernel on `inputs` (the spec's argument order) into `output`
 * on `numThreads` threads (at least 1). Checks everything first; on a
 * status other than OK nothing ran and `onError` got the reason. */
MLIR_CAPI_EXPORTED CascadeStatus cascadeKernelRun(
    CascadeKernel kernel, intptr_t numInputs, const CascadeBufferView *inputs,
    CascadeBufferView output, int32_t numThreads, MlirStringCallback onError,
    void *userData);

#ifdef __cplusplus
}
#endif

#endif /* CASCADE_C_CASCADE_H */

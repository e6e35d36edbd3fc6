/*===- capi-attention.c - Cascade from C ----------------------------------===*\
|*                                                                            *|
|* Through the C API only (libCascadeCAPI.so): parse a spec, compile it for   *|
|* the CPU, run it on the caller's strided buffers, compare with a plain C    *|
|* softmax attention in double; then the errors a binding must surface: an    *|
|* unknown function, a spec the backend refuses (located), the wrong number   *|
|* of inputs, a head dimension other than the compiled one. Last, a spec with *|
|* document ids (an int32 view beside the float ones).                        *|
|* Exit status 0 when all of it behaves.                                      *|
\*===----------------------------------------------------------------------===*/

#include "cascade-c/Cascade.h"

#include "mlir-c/IR.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kSpec =
    "func.func @softmax(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>,\n"
    "                   %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {\n"
    "  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e]"
    " / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>)"
    " -> tensor<?x?x?x?xf32>\n"
    "  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max) :"
    " (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>\n"
    "  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h,"
    " p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>\n"
    "  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) :"
    " (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>\n"
    "  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] :"
    " (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>\n"
    "  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f]"
    " reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) ->"
    " tensor<?x?x?x?xf32>\n"
    "  return %AV : tensor<?x?x?x?xf32>\n"
    "}\n";

/* Softmax within documents: query p sees key m when D[b, m] == D[b, p]
 * (variants/softmax_document.mlir without the causal part). */
static const char *kDocumentSpec =
    "func.func @document(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>,\n"
    "    %V: tensor<?x?x?x?xf32>, %D: tensor<?x?xi32>) -> tensor<?x?x?x?xf32> {\n"
    "  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e]"
    " / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>)"
    " -> tensor<?x?x?x?xf32>\n"
    "  %GM = cascade.einsum GM[b, h, p] = %QK[b, h, m, p] reduce(m: max)"
    " where %D[b, m] == %D[b, p] : (tensor<?x?x?x?xf32>, tensor<?x?xi32>,"
    " tensor<?x?xi32>) -> tensor<?x?x?xf32>\n"
    "  %SN = cascade.einsum SN[b, h, m, p] = exp(%QK[b, h, m, p] - %GM[b, h,"
    " p]) where %D[b, m] == %D[b, p] else 0.0 : (tensor<?x?x?x?xf32>,"
    " tensor<?x?x?xf32>, tensor<?x?xi32>, tensor<?x?xi32>) ->"
    " tensor<?x?x?x?xf32>\n"
    "  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) :"
    " (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>\n"
    "  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] :"
    " (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>\n"
    "  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f]"
    " reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) ->"
    " tensor<?x?x?x?xf32>\n"
    "  return %AV : tensor<?x?x?x?xf32>\n"
    "}\n";

/* Collects the messages the API reports. */
typedef struct {
  char text[4096];
} Messages;

static void collect(MlirStringRef message, void *userData) {
  Messages *messages = (Messages *)userData;
  size_t used = strlen(messages->text);
  size_t room = sizeof(messages->text) - used - 2;
  size_t n = message.length < room ? message.length : room;
  memcpy(messages->text + used, message.data, n);
  messages->text[used + n] = '\n';
  messages->text[used + n + 1] = '\0';
}

enum { B = 1, H = 2, P = 70, M = 45, D = 64, QROW = 72 };

int main(void) {
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  cascadeRegisterAllDialects(registry);
  MlirContext context = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);
  mlirContextLoadAllAvailableDialects(context);
  MlirModule module =
      mlirModuleCreateParse(context, mlirStringRefCreateFromCString(kSpec));
  if (mlirModuleIsNull(module)) {
    fprintf(stderr, "capi-attention: the spec does not parse\n");
    return 1;
  }

  Messages messages = {{0}};
  CascadeCpuOptions options = cascadeCpuOptionsGetDefault();
  MlirStringRef names[2] = {mlirStringRefCreateFromCString("e"),
                            mlirStringRefCreateFromCString("f")};
  int64_t sizes[2] = {D, D};
  options.numHeadDims = 2;
  options.headDimNames = names;
  options.headDimSizes = sizes;
  CascadeKernel kernel =
      cascadeKernelCompile(module, mlirStringRefCreateFromCString("softmax"),
                           &options, collect, &messages);
  if (cascadeKernelIsNull(kernel)) {
    fprintf(stderr, "capi-attention: compile failed:\n%s", messages.text);
    return 1;
  }
  /* The kernel owns a copy of the function: the module can go. */
  mlirModuleDestroy(module);
  printf("capi-attention: compiled, %ld inputs of rank %ld, result rank %ld\n",
         (long)cascadeKernelGetNumInputs(kernel),
         (long)cascadeKernelGetInputRank(kernel, 0),
         (long)cascadeKernelGetResultRank(kernel));

  /* Q with padded rows (stride 72 floats): the kernel reads it in place. */
  float *q = calloc((size_t)B * H * P * QROW, sizeof(float));
  float *k = malloc(sizeof(float) * B * H * M * D);
  float *v = malloc(sizeof(float) * B * H * M * D);
  float *out = malloc(sizeof(float) * B * H * P * D);
  unsigned seed = 12345;
  for (int i = 0; i < B * H * P * QROW; ++i) {
    seed = seed * 1103515245u + 12345u;
    q[i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
  }
  for (int i = 0; i < B * H * M * D; ++i) {
    seed = seed * 1103515245u + 12345u;
    k[i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
    seed = seed * 1103515245u + 12345u;
    v[i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
  }
  int64_t qSizes[4] = {B, H, P, D}, qStrides[4] = {H * P * QROW, P * QROW,
                                                    QROW, 1};
  int64_t kvSizes[4] = {B, H, M, D}, kvStrides[4] = {H * M * D, M * D, D, 1};
  int64_t outSizes[4] = {B, H, P, D}, outStrides[4] = {H * P * D, P * D, D, 1};
  CascadeBufferView inputs[3] = {{q, 4, qSizes, qStrides},
                                 {k, 4, kvSizes, kvStrides},
                                 {v, 4, kvSizes, kvStrides}};
  CascadeBufferView output = {out, 4, outSizes, outStrides};
  CascadeStatus status =
      cascadeKernelRun(kernel, 3, inputs, output, 2, collect, &messages);
  if (status != CASCADE_STATUS_OK) {
    fprintf(stderr, "capi-attention: run failed (%d):\n%s", status,
            messages.text);
    return 1;
  }

  /* The reference: softmax(Q K^T / sqrt(D)) V in double. */
  double worst = 0;
  for (int bh = 0; bh < B * H; ++bh)
    for (int p = 0; p < P; ++p) {
      double scores[M], max = -INFINITY, sum = 0;
      for (int m = 0; m < M; ++m) {
        double dot = 0;
        for (int e = 0; e < D; ++e)
          dot += (double)q[(bh * P + p) * QROW + e] * k[(bh * M + m) * D + e];
        scores[m] = dot / sqrt((double)D);
        if (scores[m] > max)
          max = scores[m];
      }
      for (int m = 0; m < M; ++m)
        sum += scores[m] = exp(scores[m] - max);
      for (int f = 0; f < D; ++f) {
        double expected = 0;
        for (int m = 0; m < M; ++m)
          expected += scores[m] / sum * v[(bh * M + m) * D + f];
        double error = fabs(out[(bh * P + p) * D + f] - expected);
        if (!(error <= 1e-4)) {
          fprintf(stderr, "capi-attention: [%d, %d, %d] is %g, expected %g\n",
                  bh, p, f, out[(bh * P + p) * D + f], expected);
          return 1;
        }
        if (error > worst)
          worst = error;
      }
    }
  printf("capi-attention: agrees with the C reference (max abs error %.1e)\n",
         worst);

  /* Errors, each reported, none fatal. */
  messages.text[0] = '\0';
  status = cascadeKernelRun(kernel, 2, inputs, output, 1, collect, &messages);
  printf("capi-attention: 2 inputs -> status %d: %s", status, messages.text);
  messages.text[0] = '\0';
  int64_t narrow[4] = {B, H, P, 32};
  CascadeBufferView narrowQ[3] = {{q, 4, narrow, qStrides},
                                  {k, 4, kvSizes, kvStrides},
                                  {v, 4, kvSizes, kvStrides}};
  status = cascadeKernelRun(kernel, 3, narrowQ, output, 1, collect, &messages);
  printf("capi-attention: E = 32 -> status %d: %s", status, messages.text);
  cascadeKernelDestroy(kernel);

  module = mlirModuleCreateParse(context, mlirStringRefCreateFromCString(kSpec));
  messages.text[0] = '\0';
  kernel = cascadeKernelCompile(module, mlirStringRefCreateFromCString("nope"),
                                &options, collect, &messages);
  printf("capi-attention: unknown function -> %s: %s",
         cascadeKernelIsNull(kernel) ? "null" : "a kernel", messages.text);
  messages.text[0] = '\0';
  options.numHeadDims = 1; /* f has no size now */
  kernel = cascadeKernelCompile(module, mlirStringRefCreateFromCString("softmax"),
                                &options, collect, &messages);
  printf("capi-attention: no size for f -> %s: %s",
         cascadeKernelIsNull(kernel) ? "null" : "a kernel", messages.text);
  mlirModuleDestroy(module);

  /* Document ids: every position its own document (D[b, m] = m), so row p
   * sees key p alone and the output is V's row p. */
  options.numHeadDims = 2;
  module = mlirModuleCreateParse(context,
                                 mlirStringRefCreateFromCString(kDocumentSpec));
  messages.text[0] = '\0';
  kernel = cascadeKernelCompile(module, mlirStringRefCreateFromCString("document"),
                                &options, collect, &messages);
  mlirModuleDestroy(module);
  if (cascadeKernelIsNull(kernel)) {
    fprintf(stderr, "capi-attention: document: compile failed:\n%s",
            messages.text);
    return 1;
  }
  MlirStringRef idType = cascadeKernelGetInputElementType(kernel, 3);
  MlirStringRef valueType = cascadeKernelGetInputElementType(kernel, 0);
  printf("capi-attention: document inputs #0 %.*s, #3 %.*s\n",
         (int)valueType.length, valueType.data, (int)idType.length,
         idType.data);
  int32_t ids[M];
  for (int m = 0; m < M; ++m)
    ids[m] = m;
  int64_t idSizes[2] = {B, M}, idStrides[2] = {M, 1};
  int64_t rowSizes[4] = {B, H, M, D};
  CascadeBufferView documentInputs[4] = {{k, 4, kvSizes, kvStrides},
                                         {k, 4, kvSizes, kvStrides},
                                         {v, 4, kvSizes, kvStrides},
                                         {ids, 2, idSizes, idStrides}};
  CascadeBufferView rows = {out, 4, rowSizes, kvStrides};
  status = cascadeKernelRun(kernel, 4, documentInputs, rows, 2, collect,
                            &messages);
  double documentWorst = status == CASCADE_STATUS_OK ? 0 : INFINITY;
  for (int i = 0; i < B * H * M * D && status == CASCADE_STATUS_OK; ++i) {
    double error = fabs((double)out[i] - v[i]);
    if (!(error <= documentWorst))
      documentWorst = error;
  }
  printf("capi-attention: document, one id per row -> status %d, max |out - "
         "V| %.1e: %s\n",
         status, documentWorst, documentWorst <= 1e-6 ? "OK" : "FAIL");
  messages.text[0] = '\0';
  idSizes[1] = M - 1;
  status = cascadeKernelRun(kernel, 4, documentInputs, rows, 1, collect,
                            &messages);
  printf("capi-attention: document, short ids -> status %d: %s", status,
         messages.text);
  cascadeKernelDestroy(kernel);
  mlirContextDestroy(context);
  free(q);
  free(k);
  free(v);
  free(out);
  return 0;
}

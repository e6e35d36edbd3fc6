// Softmax attention with attention sinks and a causal sliding window
// (StreamingLLM; Mistral's window): query p sees key m when m is not after
// p's last key p + M - P (causal, lower-right aligned as in
// softmax_causal.mlir) and m is either among the 16 most recent keys or one
// of the first 4 (the sinks). That is an OR of conditions, which a
// `where (...)` predicate (a conjunction) cannot say, so the score body
// selects -inf for a hidden key. Every key tile between the sinks and the
// window, or before the window when there are no sinks, has only -inf
// scores: the 1-pass form must give such keys weight exp(-inf - max) = 0,
// as the spec does, not exp(-inf - -inf) = NaN (docs/Passes.md).
func.func @softmax_sink_window(%Q: tensor<?x?x?x?xf32>, %K: tensor<?x?x?x?xf32>, %V: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %QK = cascade.einsum QK[b, h, m, p] = %Q[b, h, p, e] * %K[b, h, m, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %S = cascade.einsum S[b, h, m, p] = map(%QK[b, h, m, p]) {
  ^bb0(%score: f32):
    %p = cascade.index p : index
    %m = cascade.index m : index
    %P = cascade.extent p : index
    %M = cascade.extent m : index
    %window = arith.constant 16 : index
    %sinks = arith.constant 4 : index
    %zero = arith.constant 0 : index
    %shift = arith.subi %M, %P : index
    %last = arith.addi %p, %shift : index
    %back = arith.subi %last, %m : index
    %causal = arith.cmpi sge, %back, %zero : index
    %recent = arith.cmpi slt, %back, %window : index
    %sink = arith.cmpi slt, %m, %sinks : index
    %near = arith.ori %recent, %sink : i1
    %visible = arith.andi %causal, %near : i1
    %hidden = arith.constant 0xFF800000 : f32
    %s = arith.select %visible, %score, %hidden : f32
    cascade.yield %s : f32
  } : (tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %GM = cascade.einsum GM[b, h, p] = %S[b, h, m, p] reduce(m: max) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %SN = cascade.einsum SN[b, h, m, p] = exp(%S[b, h, m, p] - %GM[b, h, p]) : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %SD = cascade.einsum SD[b, h, p] = %SN[b, h, m, p] reduce(m: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  %A = cascade.einsum A[b, h, m, p] = %SN[b, h, m, p] / %SD[b, h, p] : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
  %AV = cascade.einsum AV[b, h, p, f] = %A[b, h, m, p] * %V[b, h, m, f] reduce(m: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
  return %AV : tensor<?x?x?x?xf32>
}

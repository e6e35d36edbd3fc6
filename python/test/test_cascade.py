"""pytest tests of the `cascade` Python module (run by test/python/pytest.test).

Kernels are compared with the fp64 interpreter (cascade.reference) and with
plain NumPy attention, with explicit NaN/Inf checks; every failure a caller
can cause must raise cascade.Error, never crash.
"""

import os
import threading

import numpy as np
import pytest

import cascade

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
VARIANTS = os.path.join(ROOT, "variants")


def spec(name):
    return os.path.join(VARIANTS, name + ".mlir")


def qkv(b=1, h=2, p=70, m=45, e=64, f=64, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((b, h, p, e)).astype(dtype),
            rng.standard_normal((b, h, m, e)).astype(dtype),
            rng.standard_normal((b, h, m, f)).astype(dtype))


def numpy_attention(q, k, v, causal=False):
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        p, m = s.shape[-2:]
        s = np.where(np.arange(m)[None, :] <= np.arange(p)[:, None] + m - p,
                     s, -np.inf)
    # A fully masked row (causal with P > M) is 0 in Cascade, not 0/0.
    top = s.max(-1, keepdims=True)
    s = np.exp(s - np.where(np.isfinite(top), top, 0))
    total = s.sum(-1, keepdims=True)
    return np.divide(s, total, out=np.zeros_like(s), where=total > 0) @ v


def test_softmax_matches_numpy_and_the_reference():
    q, k, v = qkv()
    out = cascade.compile(spec("softmax"))(q, k, v)
    assert out.dtype == np.float32 and out.shape == (1, 2, 70, 64)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, numpy_attention(q, k, v), atol=2e-5)
    np.testing.assert_allclose(out, cascade.reference(spec("softmax"), q, k, v),
                               atol=2e-5)


def test_causal_with_tails_and_one_row():
    for p, m in [(130, 130), (1, 7), (65, 64)]:
        q, k, v = qkv(p=p, m=m)
        out = cascade.compile(spec("softmax_causal"))(q, k, v)
        assert np.isfinite(out).all()
        np.testing.assert_allclose(out, numpy_attention(q, k, v, causal=True),
                                   atol=2e-5)


def test_float16_and_bfloat16_storage():
    q, k, v = qkv(dtype=np.float16)
    out = cascade.compile(spec("softmax"))(q, k, v)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.astype(np.float64), numpy_attention(q, k, v),
                               atol=5e-3)
    # bfloat16 as the upper 16 bits of float32.
    q32, k32, v32 = qkv()
    to_bf16 = lambda x: (x.view(np.uint32) >> 16).astype(np.uint16)
    from_bf16 = lambda x: (x.astype(np.uint32) << 16).view(np.float32)
    out = cascade.compile(spec("softmax"))(to_bf16(q32), to_bf16(k32), to_bf16(v32))
    assert out.dtype == np.uint16
    expected = numpy_attention(from_bf16(to_bf16(q32)), from_bf16(to_bf16(k32)),
                               from_bf16(to_bf16(v32)))
    np.testing.assert_allclose(from_bf16(out), expected, atol=3e-2)


def test_kernels_are_cached_per_head_dims_and_dtype():
    kernel = cascade.compile(spec("softmax"), num_threads=2)
    for e, f in [(64, 64), (16, 8), (64, 64)]:
        q, k, v = qkv(e=e, f=f)
        np.testing.assert_allclose(kernel(q, k, v), numpy_attention(q, k, v),
                                   atol=2e-5)


def test_strided_and_non_contiguous_arrays():
    q, k, v = qkv(p=40)
    # A slice along the query rank: read in place with its strides.
    wide = np.zeros((1, 2, 80, 64), np.float32)
    wide[:, :, ::2] = q
    out = cascade.compile(spec("softmax"))(wide[:, :, ::2], k, v)
    np.testing.assert_allclose(out, numpy_attention(q, k, v), atol=2e-5)
    # A transposed view (innermost stride not 1): copied.
    kt = np.ascontiguousarray(np.swapaxes(k, -1, -2))
    out = cascade.compile(spec("softmax"))(q, np.swapaxes(kt, -1, -2), v)
    np.testing.assert_allclose(out, numpy_attention(q, k, v), atol=2e-5)


def test_runtime_extent_argument():
    q, k, v = qkv(p=100, m=100)
    out = cascade.compile(spec("softmax_window"))(q, k, v, 16)
    ref = cascade.reference(spec("softmax_window"), q, k, v, 16)
    np.testing.assert_allclose(out, ref, atol=2e-5)


def test_explicit_head_dims_are_enforced():
    kernel = cascade.compile(spec("softmax"), head_dims={"e": 32, "f": 32})
    q, k, v = qkv(e=32, f=32)
    np.testing.assert_allclose(kernel(q, k, v), numpy_attention(q, k, v), atol=2e-5)
    with pytest.raises(cascade.Error, match="must be 32, as compiled"):
        kernel(*qkv())


def test_spec_as_text_and_analyses():
    with open(spec("softmax")) as f:
        text = f.read()
    assert cascade.pass_count(text) == {"e": 1, "m": 3}
    onepass = cascade.minimize(spec("softmax"))
    assert "cascade.iterate" in onepass
    assert cascade.pass_count(onepass)["m"] == 1


def test_gil_is_released_while_a_kernel_runs():
    kernel = cascade.compile(spec("softmax"), num_threads=1)
    q, k, v = qkv(p=512, m=512)
    kernel(q, k, v)  # compile first
    results = []
    threads = [threading.Thread(target=lambda: results.append(kernel(q, k, v)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2
    np.testing.assert_array_equal(results[0], results[1])


def numpy_document_attention(q, k, v, ids):
    """Causal attention within each document: ids[b, m] == ids[b, p]."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    n = s.shape[-1]
    same = ids[:, None, :, None] == ids[:, None, None, :]
    visible = same & (np.arange(n)[None, :] <= np.arange(n)[:, None])
    s = np.where(visible, s, -np.inf)
    s = np.exp(s - s.max(-1, keepdims=True))
    return s / s.sum(-1, keepdims=True) @ v


def test_document_ids_int32_and_int64():
    # Ids in any order (not sorted, documents interleaved), lengths that are
    # not multiples of the tiles; every row sees at least itself.
    rng = np.random.default_rng(3)
    for n in [1, 70, 200]:
        q, k, v = qkv(b=2, p=n, m=n)
        ids = np.sort(rng.integers(0, 4, (2, n)), axis=1)
        ids[1] = rng.integers(0, 3, n)
        out = cascade.compile(spec("softmax_document"))(q, k, v,
                                                        ids.astype(np.int32))
        assert np.isfinite(out).all()
        np.testing.assert_allclose(out, numpy_document_attention(q, k, v, ids),
                                   atol=2e-5)
    with open(spec("softmax_document")) as f:
        text = f.read().replace("xi32>", "xi64>")
    q, k, v = qkv(b=2, p=90, m=90)
    ids = rng.integers(-2**40, 2**40, (2, 90)) // 2**38
    out = cascade.compile(text)(q, k, v, ids.astype(np.int64))
    np.testing.assert_allclose(out, numpy_document_attention(q, k, v, ids),
                               atol=2e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: cascade.compile("/no/such/spec.mlir"), "no such spec file"),
    (lambda: cascade.compile(42), "spec must be a path or MLIR text"),
    (lambda: cascade.compile("func.func @f( {"), "cannot parse the spec"),
    (lambda: cascade.compile(spec("softmax"), entry="nope"), "no function 'nope'"),
    (lambda: cascade.compile(spec("softmax"), target="cuda"), "target must be 'cpu'"),
    (lambda: cascade.compile(spec("softmax"), head_dims={"e": -1}), "head_dims"),
    (lambda: cascade.compile(spec("softmax"), num_threads=0), "num_threads"),
    (lambda: cascade.compile(spec("softmax"))(*qkv()[:2]), "takes 3 inputs, not 2"),
    (lambda: cascade.compile(spec("softmax"))(*(x.astype(np.float64) for x in qkv())),
     "float32, float16 or bfloat16"),
    (lambda: cascade.compile(spec("softmax"))(qkv()[0], *(x.astype(np.float16) for x in qkv()[1:])),
     "share one dtype"),
    (lambda: cascade.compile(spec("softmax"))(qkv()[0][0], *qkv()[1:]), "4 dimensions"),
    (lambda: cascade.compile(spec("softmax"))(qkv()[0], qkv(e=32)[1], qkv()[2]),
     "rank 'e' has extent 32 at argument #1"),
    (lambda: cascade.compile(spec("softmax_window"))(*qkv(), "wide"), "pass an integer"),
    (lambda: cascade.compile(spec("softmax"))([1.0], *qkv()[1:]), "NumPy array"),
    (lambda: cascade.compile(spec("softmax_document"))(
        *qkv(p=8, m=8), np.zeros((1, 8), np.int64)),
     "holds ids: it must be int32, as the spec declares, not int64"),
    (lambda: cascade.compile(spec("softmax_document"))(
        *qkv(p=8, m=8), np.zeros((1, 8), np.float32)), "must be int32"),
    (lambda: cascade.compile(spec("softmax_document"))(
        *qkv(p=8, m=8), np.zeros((1, 7), np.int32)),
     "rank 'm' has extent 7 at argument #3"),
])
def test_errors_raise_cascade_error(call, message):
    with pytest.raises(cascade.Error, match=message):
        call()


def test_located_diagnostics_for_a_bad_spec():
    bad = ("func.func @f(%Q: tensor<?x?xf32>) -> tensor<?x?xf32> {\n"
           "  %A = cascade.einsum A[p, q] = %Q[p, z] : (tensor<?x?xf32>) -> tensor<?x?xf32>\n"
           "  return %A : tensor<?x?xf32>\n}\n")
    with pytest.raises(cascade.Error,
                       match=r"<string>:2:\d+: error: 'cascade.einsum' op rank 'z'"):
        cascade.compile(bad)

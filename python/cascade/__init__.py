"""Cascade from Python: compile attention specs to CPU kernels on NumPy arrays.

    import numpy as np, cascade
    kernel = cascade.compile("variants/softmax.mlir")
    out = kernel(q, k, v)                       # float32 in, float32 out
    ref = cascade.reference("variants/softmax.mlir", q, k, v)   # fp64
    cascade.pass_count("variants/softmax.mlir")  # {'e': 1, 'm': 3}
    text = cascade.minimize("variants/softmax.mlir")            # 1-pass MLIR

Every failure raises cascade.Error with the message (MLIR diagnostics keep
their locations in the spec). docs/Python.md has the details.
"""

import os as _os

import numpy as _np

from ._cascade import Error, Kernel as _Kernel, Spec as _Spec
from . import _cascade

__all__ = ["Error", "compile", "reference", "pass_count", "minimize"]


def _load(spec, entry=None):
    """A parsed spec from a path or MLIR text."""
    if not isinstance(spec, (str, _os.PathLike)):
        raise Error("spec must be a path or MLIR text, not %s" % type(spec).__name__)
    spec = _os.fspath(spec)
    if _os.path.exists(spec):
        try:
            with open(spec, encoding="utf-8") as f:
                return _Spec(f.read(), spec, entry)
        except OSError as e:
            raise Error("cannot read %s: %s" % (spec, e)) from None
    if "func.func" not in spec:
        raise Error("no such spec file: %s" % spec)
    return _Spec(spec, "<string>", entry)


def _prepare(array):
    # The kernels read any strides whose innermost step is one element;
    # other layouts (a transposed view, negative strides) are copied.
    if not isinstance(array, _np.ndarray):
        return array
    if array.ndim and (array.strides[-1] != array.itemsize or
                       any(s < 0 for s in array.strides)):
        return _np.ascontiguousarray(array)
    return array


class _Compiled:
    """A callable kernel; see compile()."""

    def __init__(self, spec, head_dims, num_threads):
        self._kernel = _Kernel(spec, head_dims, num_threads)
        self.name = spec.name

    def __call__(self, *arrays):
        return self._kernel(*[_prepare(a) for a in arrays])


def compile(spec, target="cpu", head_dims=None, entry=None, num_threads=None):
    """Compile `spec` (a path or MLIR text) and return a callable kernel.

    Called with NumPy arrays in the spec's argument order (float32, float16,
    or bfloat16 bits as uint16; Python ints for runtime extents), it returns
    the output in the inputs' dtype. With head_dims=None the kernel is
    specialised on the head dimensions and dtype of each call and cached per
    (head dims, dtype). The GIL is released while a kernel runs.
    """
    if target != "cpu":
        raise Error("target must be 'cpu' (the GPU backend is issue 12), not %r"
                    % (target,))
    if head_dims is not None:
        if not isinstance(head_dims, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and v > 0
                for k, v in head_dims.items()):
            raise Error("head_dims must map rank names to positive ints, "
                        "e.g. {'e': 64, 'f': 64}")
    if num_threads is None:
        num_threads = _cascade._hardware_threads()
    if not isinstance(num_threads, int) or num_threads < 1:
        raise Error("num_threads must be a positive int")
    return _Compiled(_load(spec, entry), head_dims, num_threads)


def reference(spec, *arrays, entry=None):
    """The fp64 interpreter's result for `spec` on `arrays` (float64)."""
    return _cascade._reference(_load(spec, entry), *arrays)


def pass_count(spec, entry=None):
    """{rank: passes over it} for every rank the spec reduces."""
    return _cascade._pass_count(_load(spec, entry))


def minimize(spec, entry=None):
    """The spec after cascade-minimize-passes, as MLIR text."""
    return _cascade._minimize(_load(spec, entry))

"""Tolerances for float32 results that two computations reach by different paths.

A float32 value summed in another order (a batch against a single row, the BLAS or
SIMD kernels of another CPU: AVX-512, AVX2, SSE, NEON) differs by a few units in the
last place, 2**-23 (1.2e-7) relative, per operation. These tolerances leave room for
tens of such roundings on any x86-64 or arm64 machine and still catch a real error,
which is orders of magnitude larger.
"""

from __future__ import annotations

FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6

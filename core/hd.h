// Host/device qualifiers: per-element math is written once and compiled for both the CPU loops
// and the CUDA kernels, so CI tests the same formulas the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define DYBAT_HD __host__ __device__ __forceinline__
#else
#define DYBAT_HD inline
#endif

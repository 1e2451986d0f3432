// The CPU backend's threads: one OpenMP pool does all the work.
//
// Every CPU loop is an OpenMP loop, and the GEMMs too are split over OpenMP threads, each calling
// OpenBLAS on one thread (see gemm_cpu.h), so OpenBLAS's own pool stays idle and never competes
// with OpenMP for the cores. Results are deterministic for a given thread count (see each
// kernel), so benchmarks and tests that compare runs must use the same count.
#pragma once

#include <string>

namespace dybat {

// Sets the pool to n threads (n >= 1); OpenBLAS is kept at one thread per call.
void set_cpu_threads(int n);
// The pool size (what omp_get_max_threads reports).
int cpu_threads();
// OpenBLAS's configuration and the core its dynamic dispatch chose, e.g.
// "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (core SkylakeX)".
std::string blas_info();

}  // namespace dybat

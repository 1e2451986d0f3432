// The CPU backend's two thread pools, set together: OpenMP (every CPU loop) and OpenBLAS (GEMMs).
//
// The GEMMs are called outside OpenMP regions, so at any moment only one pool is busy; giving both
// the same size keeps the machine fully used without oversubscribing it. Results are
// deterministic for a given thread count (see each kernel), so benchmarks and tests that compare
// runs must use the same count.
#pragma once

#include <string>

namespace dybat {

// Sets both pools to n threads (n >= 1).
void set_cpu_threads(int n);
// The OpenMP pool size (what omp_get_max_threads reports).
int cpu_threads();
// OpenBLAS's configuration and the core its dynamic dispatch chose, e.g.
// "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (core SkylakeX)".
std::string blas_info();

}  // namespace dybat

// Thread pools of the CPU backend (see cpu_threads.h).
#include "kernels/cpu_threads.h"

#include <cblas.h>
#include <omp.h>

#include "core/error.h"

namespace dybat {

void set_cpu_threads(int n) {
  DYBAT_CHECK(n >= 1, "set_cpu_threads: the thread count must be at least 1, got ", n);
  omp_set_num_threads(n);
  openblas_set_num_threads(1);
}

int cpu_threads() { return omp_get_max_threads(); }

std::string blas_info() {
  std::string s = openblas_get_config();
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s + " (core " + openblas_get_corename() + ")";
}

}  // namespace dybat

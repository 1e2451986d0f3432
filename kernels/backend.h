// The two backends of the ops in kernels/: the kernel-level functions each of them implements,
// with one signature for both. cpu:: lives in kernels/<op>_cpu.cpp, cuda:: in kernels/<op>.cu,
// and the op's dispatcher (kernels/<op>.cpp) calls one or the other by the tensors' device. The
// public contract of each function is in the op's own header (kernels/<op>.h); this header is
// for the implementation files only.
//
// The list is written once, in backend_functions.inc, and declared in both namespaces, so the
// two backends cannot drift apart: a CUDA function with another signature than its CPU twin does
// not compile against its declaration.
#pragma once

#include <vector>

#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_sync.h"
#include "kernels/cast.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "kernels/matmul.h"
#include "kernels/pool.h"
#include "kernels/reduce.h"
#include "kernels/sgd.h"

namespace dybat::cpu {
#include "kernels/backend_functions.inc"
}  // namespace dybat::cpu

namespace dybat::cuda {
#include "kernels/backend_functions.inc"
// CUDA only: SGD with the rate read from device memory (on the CPU the dispatcher reads it).
void sgd_update(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& bufs,
                const SgdOptions& opt, const Tensor& lr);
}  // namespace dybat::cuda

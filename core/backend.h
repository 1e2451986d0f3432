// The two backends of core/'s data movement (copy.h): the functions each of them implements, with
// one signature for both; cpu:: in core/copy_cpu.cpp, cuda:: in core/copy.cu, chosen by the
// dispatcher in core/copy.cpp (see kernels/backend.h for the pattern). For implementation files
// only (kernels' .cu files use the host-device copies too).
#pragma once

#include <cstddef>

#include "core/copy.h"

namespace dybat::cpu {
#include "core/backend_functions.inc"
}  // namespace dybat::cpu

namespace dybat::cuda {
#include "core/backend_functions.inc"
// CUDA only: contiguous bytes between host and device (counted in transfer_counters). copy_into
// and the others work on tensors of one CUDA device.
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device);
}  // namespace dybat::cuda

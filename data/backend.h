// The two backends of data/'s on-device batch gather (gather.h), with one signature for both:
// cpu:: in data/gather_cpu.cpp, cuda:: in data/gather.cu (see kernels/backend.h for the
// pattern). For the implementation files only.
#pragma once

#include "data/gather.h"

namespace dybat::cpu {
#include "data/backend_functions.inc"
}  // namespace dybat::cpu

namespace dybat::cuda {
#include "data/backend_functions.inc"
}  // namespace dybat::cuda

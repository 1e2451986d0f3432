// The two backends of train/'s device work (the batch gather of batches.h, the metric sums of
// metrics.h, the schedule kernels of selection.h, the selection methods' kernels of select_*.h),
// with one signature for both: cpu:: in train/<name>_cpu.cpp, cuda:: in train/<name>.cu (see
// kernels/backend.h for the pattern). For the implementation files only.
#pragma once

#include "train/batches.h"
#include "train/global_loss.h"
#include "train/metrics.h"
#include "train/select_common.h"
#include "train/select_infobatch.h"
#include "train/select_random.h"
#include "train/select_sb.h"
#include "train/selection.h"

namespace dybat::cpu {
#include "train/backend_functions.inc"
}  // namespace dybat::cpu

namespace dybat::cuda {
#include "train/backend_functions.inc"
}  // namespace dybat::cuda

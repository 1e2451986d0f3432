// The batch gather behind BatchLoader::gather, declared for both backends with one signature.
// images: float32 or float64 [B, 3, crop, crop] and labels: int64 [B], contiguous, on the device
// whose pointers `a` holds; the batch id is read from a.batch_id on that device.
#pragma once

#include "core/tensor.h"
#include "data/gather_math.h"

namespace dybat {

}  // namespace dybat

// The batch gather on CUDA: one kernel reads the batch id from device memory, resizes (when the
// split is stored at another size), augments and normalises into the batch. Kernels, then launcher.
#include <cmath>

#include "data/backend.h"
#include "data/gather.h"
#include "kernels/cuda_launch.h"

namespace dybat::cuda {

namespace {

// One thread per output element (b, c, y, x); the thread of (c, y, x) = 0 also writes label b.
// An out-of-range batch id (or sample id) cannot raise an error here: it yields NaN images and
// label -1.
template <class T>
__global__ void gather_kernel(GatherArgs a, T* out, int64_t* out_labels, int64_t total) {
  const int64_t id = a.sample_ids ? 0 : *a.batch_id;
  const bool valid = id >= 0 && id < a.num_batches;
  const int64_t plane = static_cast<int64_t>(a.crop) * a.crop;
  DYBAT_CUDA_KERNEL_LOOP(i, total) {
    const int64_t bc = i / plane;
    const int64_t b = bc / 3;
    const int c = static_cast<int>(bc % 3);
    const int64_t r = i % plane;
    const int y = static_cast<int>(r / a.crop), x = static_cast<int>(r % a.crop);
    const int64_t sample = gather_sample(a, id, b);
    if (!valid || sample < 0 || sample >= a.n) {
      out[i] = static_cast<T>(NAN);
      if (r == 0 && c == 0) out_labels[b] = -1;
      continue;
    }
    if (r == 0 && c == 0) out_labels[b] = a.labels[sample];
    out[i] = static_cast<T>(gather_value(a, sample, aug_draw(a, sample), c, y, x));
  }
}

}  // namespace

void gather(const GatherArgs& a, const Tensor& images, const Tensor& labels) {
  const int dev = images.device().index;
  const int64_t total = images.numel();
  if (total == 0) return;
  if (images.dtype() == DType::Float32) {
    gather_kernel<float>
        <<<grid_for(total, dev), kBlock, 0, stream(dev)>>>(a, images.data<float>(), labels.data<int64_t>(), total);
  } else {
    gather_kernel<double>
        <<<grid_for(total, dev), kBlock, 0, stream(dev)>>>(a, images.data<double>(), labels.data<int64_t>(), total);
  }
  DYBAT_CUDA_LAUNCH_CHECK();
}

}  // namespace dybat::cuda

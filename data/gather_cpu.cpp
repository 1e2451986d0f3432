// The batch gather on the CPU: host loops over the shared per-element math of gather_math.h.
#include "core/dispatch.h"
#include "data/backend.h"
#include "data/gather.h"

namespace dybat::cpu {

void gather(const GatherArgs& a, const Tensor& images, const Tensor& labels) {
  const int64_t id = a.sample_ids ? 0 : *a.batch_id;  // the CPU backend's "device memory" is host memory
  DYBAT_CHECK(id >= 0 && id < a.num_batches, "BatchLoader::gather: batch id ", id, " is out of range [0, ",
              a.num_batches, ")");
  const int64_t B = a.batch, plane = static_cast<int64_t>(a.crop) * a.crop;
  int64_t* out_labels = labels.data<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t sample = gather_sample(a, id, b);
    DYBAT_CHECK(sample >= 0 && sample < a.n, "BatchLoader::gather_samples: sample ", sample, " is out of range [0, ",
                a.n, ")");
    out_labels[b] = a.labels[sample];
  }
  dispatch_float(images.dtype(), "BatchLoader::gather", [&](auto tag) {
    using T = DYBAT_SCALAR(tag);
    T* out = images.data<T>();
    // One (sample, channel) plane per iteration; each element is written once, so the result
    // does not depend on the thread count.
#pragma omp parallel for schedule(static) if (B * 3 * plane > 65536)
    for (int64_t bc = 0; bc < B * 3; ++bc) {
      const int64_t b = bc / 3, sample = gather_sample(a, id, b);
      const int c = static_cast<int>(bc % 3);
      const AugDraw d = aug_draw(a, sample);
      T* dst = out + bc * plane;
      for (int y = 0; y < a.crop; ++y)
        for (int x = 0; x < a.crop; ++x) dst[y * a.crop + x] = static_cast<T>(gather_value(a, sample, d, c, y, x));
    }
  });
}

}  // namespace dybat::cpu

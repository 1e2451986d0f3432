// The dataset adapter of BatchSource (its own file, so programs that never load a dataset do not
// link the data library's loader).
#include "train/batches.h"

namespace dybat {

LoaderBatches::LoaderBatches(const Split& split, int64_t batch_size, int crop, AugmentOptions augment, uint64_t seed)
    : loader_(split, batch_size, crop, augment),
      samples_(split.size()),
      device_(split.labels.device()),
      seed_(seed),
      augments_(augment.any()) {}

void LoaderBatches::gather(const Tensor& batch_id, const Tensor& inputs, const Tensor& labels) const {
  loader_.gather(batch_id, inputs, labels, seed_, static_cast<uint64_t>(step_));
}

void LoaderBatches::gather_samples(const Tensor& sample_ids, const Tensor& inputs, const Tensor& labels) const {
  loader_.gather_samples(sample_ids, inputs, labels, seed_, static_cast<uint64_t>(step_));
}

}  // namespace dybat

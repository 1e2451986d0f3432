// The dataset adapter of BatchSource (its own file, so programs that never load a dataset do not
// link the data library's loader).
#include "train/batches.h"

namespace dybat {

LoaderBatches::LoaderBatches(const Split& split, int64_t batch_size, int crop)
    : loader_(split, batch_size, crop), samples_(split.size()), device_(split.labels.device()) {}

void LoaderBatches::gather(const Tensor& batch_id, const Tensor& inputs, const Tensor& labels) const {
  loader_.gather(batch_id, inputs, labels);
}

}  // namespace dybat

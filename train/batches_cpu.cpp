// CPU batch gathers: one block copy of B rows, the batch id read from (host) memory; or one row
// copy per index.
#include <cstring>

#include "train/backend.h"
#include "train/batches.h"

namespace dybat::cpu {

void gather_batch(const Tensor& src, const Tensor& batch_id, const Tensor& out) {
  int64_t id = *batch_id.data<int64_t>();
  int64_t rows = out.size(0);
  DYBAT_CHECK(id >= 0 && (id + 1) * rows <= src.size(0), "gather_batch: batch ", id, " of ", rows,
              " rows is outside the ", src.size(0), " rows of the split");
  size_t row_bytes = src.nbytes() / static_cast<size_t>(src.size(0));
  std::memcpy(out.data_ptr(), static_cast<const char*>(src.data_ptr()) + id * rows * row_bytes, out.nbytes());
}

void gather_by_index(const Tensor& src, const Tensor& index, const Tensor& out) {
  const int64_t* idx = index.data<int64_t>();
  const size_t row_bytes = src.nbytes() / static_cast<size_t>(src.size(0));
  for (int64_t j = 0; j < out.size(0); ++j) {
    DYBAT_CHECK(idx[j] >= 0 && idx[j] < src.size(0), "gather_by_index: index ", idx[j], " outside the ", src.size(0),
                " rows");
    std::memcpy(static_cast<char*>(out.data_ptr()) + j * row_bytes,
                static_cast<const char*>(src.data_ptr()) + idx[j] * row_bytes, row_bytes);
  }
}

}  // namespace dybat::cpu

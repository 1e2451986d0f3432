// Batch sources: in-memory tensors and the gather dispatcher.
#include "train/batches.h"

#include <numeric>
#include <vector>

#include "core/dispatch.h"
#include "train/backend.h"

namespace dybat {

void gather_batch(const Tensor& src, const Tensor& batch_id, const Tensor& out) {
  DYBAT_CHECK(src.is_contiguous() && out.is_contiguous(), "gather_batch: tensors must be contiguous");
  DYBAT_CHECK(src.dim() == out.dim() && src.dim() >= 1, "gather_batch: src ", src.str(), " and out ", out.str(),
              " differ in rank");
  for (int64_t d = 1; d < src.dim(); ++d)
    DYBAT_CHECK(src.size(d) == out.size(d), "gather_batch: src ", src.str(), " and out ", out.str(), " differ");
  DYBAT_CHECK(out.size(0) >= 1 && out.size(0) <= src.size(0), "gather_batch: batch of ", out.size(0), " from ",
              src.size(0), " rows");
  DYBAT_CHECK(batch_id.dtype() == DType::Int64 && batch_id.numel() == 1, "gather_batch: batch id must be one int64");
  check_same_dtype(src, out, "gather_batch");
  check_same_device(src, out, "gather_batch");
  check_same_device(src, batch_id, "gather_batch");
  DYBAT_DISPATCH_DEVICE(out.device(), gather_batch, src, batch_id, out);
}

void gather_by_index(const Tensor& src, const Tensor& index, const Tensor& out) {
  DYBAT_CHECK(src.is_contiguous() && out.is_contiguous() && index.is_contiguous(),
              "gather_by_index: tensors must be contiguous");
  DYBAT_CHECK(src.dim() == out.dim() && src.dim() >= 1, "gather_by_index: src ", src.str(), " and out ", out.str(),
              " differ in rank");
  for (int64_t d = 1; d < src.dim(); ++d)
    DYBAT_CHECK(src.size(d) == out.size(d), "gather_by_index: src ", src.str(), " and out ", out.str(), " differ");
  DYBAT_CHECK(index.dtype() == DType::Int64 && index.dim() == 1 && index.numel() == out.size(0),
              "gather_by_index: index must be int64 [", out.size(0), "], got ", index.str());
  check_same_dtype(src, out, "gather_by_index");
  check_same_device(src, out, "gather_by_index");
  check_same_device(src, index, "gather_by_index");
  if (out.numel() == 0) return;
  DYBAT_DISPATCH_DEVICE(out.device(), gather_by_index, src, index, out);
}

void BatchSource::gather_samples(const Tensor&, const Tensor&, const Tensor&) const {
  DYBAT_FAIL("this batch source gathers whole batches only; it cannot gather single samples");
}

Tensor batch_ids(int64_t n, Device device) {
  std::vector<int64_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), int64_t{0});
  return Tensor::from_vector(ids, {n}).to(device);
}

TensorBatches::TensorBatches(Tensor inputs, Tensor labels, int64_t batch_size)
    : inputs_(inputs.contiguous()), labels_(labels.contiguous()), batch_size_(batch_size) {
  DYBAT_CHECK(inputs_.dim() >= 1 && labels_.dim() == 1 && labels_.size(0) == inputs_.size(0),
              "TensorBatches: inputs ", inputs_.str(), " and labels ", labels_.str(), " do not match");
  DYBAT_CHECK(labels_.dtype() == DType::Int64, "TensorBatches: labels must be int64");
  DYBAT_CHECK(batch_size >= 1, "TensorBatches: batch size must be >= 1");
  check_same_device(inputs_, labels_, "TensorBatches");
}

Shape TensorBatches::input_shape() const {
  Shape s = inputs_.shape();
  s[0] = batch_size_;
  return s;
}

void TensorBatches::gather(const Tensor& batch_id, const Tensor& inputs, const Tensor& labels) const {
  gather_batch(inputs_, batch_id, inputs);
  gather_batch(labels_, batch_id, labels);
}

void TensorBatches::gather_samples(const Tensor& sample_ids, const Tensor& inputs, const Tensor& labels) const {
  gather_by_index(inputs_, sample_ids, inputs);
  gather_by_index(labels_, sample_ids, labels);
}

}  // namespace dybat

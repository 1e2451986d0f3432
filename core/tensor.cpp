// Tensor storage, creation, views, copies and autograd entry points (see tensor.h; shapes, dtype
// and device names are in types.cpp).
#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>

#include "core/autograd.h"
#include "core/capture.h"
#include "core/copy.h"
#include "core/strided.h"

namespace dybat {

// ---- storage ----------------------------------------------------------------------------------

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  allocator_ = &allocator_for(device);
  if (!capture_active()) {
    data_ = allocator_->allocate(nbytes);
    return;
  }
  // In a capture scope, memory must come from the allocator's cache (core/capture.h).
  const uint64_t before = allocator_->stats().system_allocs;
  data_ = allocator_->allocate(nbytes);
  if (allocator_->stats().system_allocs != before) {
    allocator_->deallocate(data_, nbytes);
    allocator_ = nullptr;
    capture_check(detail::cat("allocating ", nbytes, " bytes of new memory on ", device.str()).c_str());
  }
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> keep_alive)
    : data_(data), nbytes_(nbytes), device_(device), keep_alive_(std::move(keep_alive)) {}

Storage::~Storage() {
  if (allocator_) allocator_->deallocate(data_, nbytes_);
}

// ---- creation ---------------------------------------------------------------------------------

namespace {
std::shared_ptr<TensorImpl> make_impl(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) DYBAT_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

// A view of `src`'s storage with new geometry; autograd fields are left clear.
Tensor make_view(const Tensor& src, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = src.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = src.dtype();
  return Tensor(impl);
}

// Fills a host buffer of `n` elements of `dtype` from a double-valued generator. Element i
// depends only on i, so the parallel loop gives the same numbers for any thread count.
template <class F>
void fill_host(void* out, DType dtype, int64_t n, F&& value_of) {
  switch (dtype) {
    case DType::Float32: {
      float* p = static_cast<float*>(out);
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(value_of(i));
      break;
    }
    case DType::Float64: {
      double* p = static_cast<double*>(out);
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) p[i] = value_of(i);
      break;
    }
    case DType::BFloat16: {
      bf16* p = static_cast<bf16*>(out);
#pragma omp parallel for schedule(static) if (n > 65536)
      for (int64_t i = 0; i < n; ++i) p[i] = bf16::from_float(static_cast<float>(value_of(i)));
      break;
    }
    default: DYBAT_FAIL("random fill needs a floating dtype, got ", dtype_name(dtype));
  }
}
}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) { return Tensor(make_impl(shape, dtype, device)); }

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_into(t, value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  DYBAT_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
              " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>::value, Device::cpu());
  if (!values.empty()) std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector<bf16>(const std::vector<bf16>&, const Shape&);

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, Generator& g, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu());
  uint64_t seed = g.seed, offset = g.next_offset();
  fill_host(t.data_ptr(), dtype, t.numel(),
            [&](int64_t i) { return lo + (hi - lo) * philox_uniform(seed, offset, static_cast<uint64_t>(i)); });
  return device.is_cpu() ? t : t.to(device);
}

Tensor Tensor::normal(const Shape& shape, double mean, double std, Generator& g, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, Device::cpu());
  uint64_t seed = g.seed, offset = g.next_offset();
  fill_host(t.data_ptr(), dtype, t.numel(),
            [&](int64_t i) { return mean + std * philox_normal(seed, offset, static_cast<uint64_t>(i)); });
  return device.is_cpu() ? t : t.to(device);
}

// ---- properties -------------------------------------------------------------------------------

#define DYBAT_REQUIRE_DEFINED() DYBAT_CHECK(impl_, "operation on an undefined tensor")

const Shape& Tensor::shape() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->shape;
}
const Shape& Tensor::strides() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->strides;
}
int64_t Tensor::offset() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->offset;
}
int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  DYBAT_CHECK(d >= 0 && d < n, "dim ", d, " out of range for a tensor of shape ", shape_str(shape()));
  return impl_->shape[d];
}
int64_t Tensor::stride(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  DYBAT_CHECK(d >= 0 && d < n, "dim ", d, " out of range for a tensor of shape ", shape_str(shape()));
  return impl_->strides[d];
}
int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->dtype;
}
Device Tensor::device() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->storage->device();
}
const std::shared_ptr<Storage>& Tensor::storage() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->storage;
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no elements: any strides describe the same (empty) layout
  const Shape& sh = shape();
  const Shape& st = strides();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!impl_) return "undefined tensor";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " on " + device().str();
}

void* Tensor::data_ptr() const {
  DYBAT_REQUIRE_DEFINED();
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(dtype_size(impl_->dtype));
}

// ---- views ------------------------------------------------------------------------------------

namespace {
Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from) {
  Shape out = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      DYBAT_CHECK(infer < 0, "reshape: only one dimension can be -1, got ", shape_str(requested));
      infer = static_cast<int64_t>(i);
    } else {
      DYBAT_CHECK(out[i] >= 0, "reshape: invalid dimension in ", shape_str(requested));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    DYBAT_CHECK(known > 0 && numel % known == 0, "reshape: cannot reshape ", shape_str(from), " to ",
                shape_str(requested));
    out[infer] = numel / known;
  }
  DYBAT_CHECK(shape_numel(out) == numel, "reshape: cannot reshape ", shape_str(from), " (", numel,
              " elements) to ", shape_str(requested));
  return out;
}

// Records the backward of a view-like op: the gradient is reshaped/permuted back.
void record_view_grad(const Tensor& input, Tensor& out, const char* name, std::function<Tensor(const Tensor&)> back) {
  if (!autograd::needs_graph({&input})) return;
  auto node = std::make_shared<autograd::LambdaNode>(
      name, [back = std::move(back)](const Tensor& dout) { return std::vector<Tensor>{back(dout)}; });
  autograd::connect(node, {&input}, out);
}
}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), this->shape());
  DYBAT_CHECK(is_contiguous(), "view: tensor of shape ", shape_str(this->shape()),
              " is not contiguous; use reshape() or contiguous()");
  Tensor out = make_view(*this, s, contiguous_strides(s), offset());
  Shape orig = this->shape();
  record_view_grad(*this, out, "ViewBackward", [orig](const Tensor& d) { return d.reshape(orig); });
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (is_contiguous()) return view(shape);
  // A copy, which is differentiable through contiguous() and view().
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start_dim) const {
  int64_t n = dim();
  if (start_dim < 0) start_dim += n;
  DYBAT_CHECK(start_dim >= 0 && start_dim <= n, "flatten: start_dim out of range for ", shape_str(shape()));
  Shape s(shape().begin(), shape().begin() + start_dim);
  int64_t rest = 1;
  for (int64_t d = start_dim; d < n; ++d) rest *= shape()[d];
  s.push_back(rest);
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  int64_t n = dim();
  DYBAT_CHECK(static_cast<int64_t>(dims.size()) == n, "permute: ", dims.size(), " dims given for a ", n,
              "-d tensor");
  Shape s(n), st(n);
  std::vector<int64_t> inverse(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = dims[i] < 0 ? dims[i] + n : dims[i];
    DYBAT_CHECK(d >= 0 && d < n && inverse[d] < 0, "permute: invalid permutation");
    inverse[d] = i;
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, s, st, offset());
  record_view_grad(*this, out, "PermuteBackward", [inverse](const Tensor& d) { return d.permute(inverse); });
  return out;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  DYBAT_CHECK(dim() >= 1, "slice: tensor has no dim 0");
  DYBAT_CHECK(0 <= begin && begin <= end && end <= size(0), "slice [", begin, ", ", end, ") out of range for dim 0 of size ",
              size(0));
  Shape s = shape();
  s[0] = end - begin;
  return make_view(*this, s, strides(), offset() + begin * strides()[0]);
}

Tensor Tensor::select(int64_t index) const {
  DYBAT_CHECK(dim() >= 1, "select: tensor has no dim 0");
  DYBAT_CHECK(0 <= index && index < size(0), "select: index ", index, " out of range for size ", size(0));
  Shape s(shape().begin() + 1, shape().end());
  Shape st(strides().begin() + 1, strides().end());
  return make_view(*this, s, st, offset() + index * strides()[0]);
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  DYBAT_CHECK(shape.size() == strides.size(), "as_strided: shape and strides differ in length");
  return make_view(*this, shape, strides, offset);
}

Tensor Tensor::expand(const Shape& shape) const {
  return make_view(*this, shape, broadcast_strides(*this, shape), offset());
}

// ---- copies -----------------------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape(), dtype(), device());
  copy_into(out, *this);
  record_view_grad(*this, out, "ContiguousBackward", [](const Tensor& d) { return d; });
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_into(out, *this);
  return out;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor out = empty(shape(), dtype(), device);
  copy_into(out, *this);
  return out;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return *this;
  Tensor out = empty(shape(), dtype, device());
  copy_into(out, *this);
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  copy_into(*this, src);
  return *this;
}

void Tensor::set_data(const Tensor& src) {
  DYBAT_REQUIRE_DEFINED();
  DYBAT_CHECK(src.defined(), "set_data: source tensor is undefined");
  impl_->storage = src.impl_->storage;
  impl_->shape = src.impl_->shape;
  impl_->strides = src.impl_->strides;
  impl_->offset = src.impl_->offset;
  impl_->dtype = src.impl_->dtype;
  impl_->grad = Tensor();
}

Tensor& Tensor::fill_(double value) {
  fill_into(*this, value);
  return *this;
}

double Tensor::item() const {
  DYBAT_CHECK(numel() == 1, "item: tensor of shape ", shape_str(shape()), " has ", numel(), " elements, expected 1");
  capture_check("reading a tensor value on the host (item)");
  Tensor h = to(DType::Float64).to(Device::cpu());
  ++transfer_counters().host_reads;
  return *h.data<double>();
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  capture_check("reading tensor values on the host (to_vector)");
  Tensor h = to(dtype_of<T>::value).to(Device::cpu()).contiguous();
  ++transfer_counters().host_reads;
  const T* p = h.data<T>();
  return std::vector<T>(p, p + h.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

// ---- autograd ---------------------------------------------------------------------------------

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  DYBAT_REQUIRE_DEFINED();
  DYBAT_CHECK(!impl_->grad_fn, "set_requires_grad: only leaf tensors can change requires_grad");
  DYBAT_CHECK(!on || is_floating(dtype()), "set_requires_grad: only floating tensors can require gradients, got ",
              dtype_name(dtype()));
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return impl_ && !impl_->grad_fn; }

const Tensor& Tensor::grad() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->grad;
}

Tensor& Tensor::mutable_grad() {
  DYBAT_REQUIRE_DEFINED();
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) {
  DYBAT_REQUIRE_DEFINED();
  DYBAT_CHECK(!g.defined() || g.shape() == shape(), "set_grad: gradient shape ", shape_str(g.shape()),
              " does not match tensor shape ", shape_str(shape()));
  impl_->grad = g;
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  DYBAT_REQUIRE_DEFINED();
  return impl_->grad_fn;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> fn) {
  DYBAT_REQUIRE_DEFINED();
  impl_->grad_fn = std::move(fn);
  impl_->requires_grad = impl_->requires_grad || impl_->grad_fn != nullptr;
}

void Tensor::backward() const {
  DYBAT_CHECK(numel() == 1, "backward() without a gradient needs a one-element tensor, got shape ",
              shape_str(shape()));
  autograd::run_backward(*this, Tensor::ones(shape(), dtype(), device()));
}

void Tensor::backward(const Tensor& dout) const { autograd::run_backward(*this, dout); }

// ---- checks -----------------------------------------------------------------------------------

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  DYBAT_CHECK(a.device() == b.device(), op, ": tensors on different devices (", a.device().str(), " and ",
              b.device().str(), ")");
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  DYBAT_CHECK(a.dtype() == b.dtype(), op, ": tensors of different dtypes (", dtype_name(a.dtype()), " and ",
              dtype_name(b.dtype()), ")");
}

}  // namespace dybat

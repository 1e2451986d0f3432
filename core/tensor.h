// Tensor: an n-dimensional view (shape, strides, offset, dtype) onto reference-counted storage on
// a device, plus the autograd fields (requires_grad, grad, grad_fn).
//
// A Tensor is a cheap handle: copying it shares the same data and autograd identity, like a
// torch.Tensor in Python. Views (reshape of contiguous data, permute, slice, detach) share
// storage. Differentiable math lives in kernels/ (add, conv2d, ...); this header holds only what
// every layer above needs: creation, views, copies between devices and dtypes, and autograd entry
// points. reshape/view/flatten and permute are differentiable (their backward is a view too).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/philox.h"

namespace dybat {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

class Node;
struct TensorImpl;

// Raw memory on a device, freed through its allocator when the last tensor using it goes.
class Storage {
 public:
  Storage(size_t nbytes, Device device);
  // Wraps memory owned elsewhere (not freed here); `keep_alive` is held until the storage dies.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<void> keep_alive);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
  std::shared_ptr<void> keep_alive_;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() is false)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::cpu());
  // Copies host values into a new CPU tensor (T must match dtype_of<T>); numel must equal values.size().
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  // Uniform in [lo, hi) and normal(mean, std), from the Philox stream (g.seed, g.next_offset()):
  // element i of the flattened tensor gets stream element i, on any device.
  static Tensor uniform(const Shape& shape, double lo, double hi, Generator& g, DType dtype = DType::Float32,
                        Device device = Device::cpu());
  static Tensor normal(const Shape& shape, double mean, double std, Generator& g, DType dtype = DType::Float32,
                       Device device = Device::cpu());
  Tensor empty_like() const { return empty(shape(), dtype(), device()); }
  Tensor zeros_like() const { return zeros(shape(), dtype(), device()); }

  // ---- properties -----------------------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  DType dtype() const;
  Device device() const;
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;
  bool same_storage(const Tensor& other) const { return storage() == other.storage(); }
  std::string str() const;  // "float32[2, 3] on cpu"

  // Pointer to element 0 of the view; the typed form checks the dtype.
  void* data_ptr() const;
  template <class T>
  T* data() const {
    DYBAT_CHECK(dtype() == dtype_of<T>::value, "tensor holds ", dtype_name(dtype()), ", accessed as ",
                dtype_name(dtype_of<T>::value));
    return static_cast<T*>(data_ptr());
  }

  // ---- views (share storage) ------------------------------------------------------------------
  // reshape: a view when the data is contiguous, else a contiguous copy. One dim may be -1.
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;  // like reshape, but throws instead of copying
  Tensor flatten(int64_t start_dim = 1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0 (not differentiable)
  Tensor select(int64_t index) const;              // row `index` of dim 0, dim 0 dropped
  Tensor detach() const;                           // same data, outside the autograd graph
  // A raw view with explicit geometry (not differentiable; stride 0 expresses broadcasting).
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;
  // A stride-0 view of this tensor broadcast to `shape` (not differentiable).
  Tensor expand(const Shape& shape) const;

  // ---- copies and conversions -----------------------------------------------------------------
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh contiguous copy (not differentiable)
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }
  // In-place, shapes must match (src may be on another device or of another dtype).
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Makes this tensor (and every handle sharing it) refer to `src`'s data, shape and dtype, like
  // PyTorch's `t.data = src`; autograd flags stay, the gradient is dropped. Used to move or
  // convert a module's parameters without invalidating handles held elsewhere.
  void set_data(const Tensor& src);
  // Reads a one-element tensor (counted as a host read when the tensor is on a GPU).
  double item() const;
  template <class T>
  std::vector<T> to_vector() const;  // all elements, in row-major order, on the host

  // ---- autograd -------------------------------------------------------------------------------
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);  // only on leaves
  bool is_leaf() const;
  const Tensor& grad() const;  // undefined until a backward reaches this leaf
  Tensor& mutable_grad();
  void set_grad(const Tensor& g);
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);  // used by ops when they record a node
  // Backpropagates from this tensor: from a one-element tensor with gradient 1, or with the
  // given gradient `dout` (same shape). Leaf gradients accumulate into .grad.
  void backward() const;
  void backward(const Tensor& dout) const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
};

// Raises a clear error unless `t` has the expected dtype/device/dim (used by op preconditions).
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);

}  // namespace dybat

// Device dispatch for copies, fills and accumulation (see copy.h).
#include "core/copy.h"

#include "core/backend.h"
#include "core/capture.h"

#if defined(DYBAT_CUDA)
#include <cuda_runtime.h>

#include "core/cuda_check.h"
#include "core/cuda_context.h"
#endif

namespace dybat {

TransferCounters& transfer_counters() {
  static TransferCounters c;
  return c;
}

void synchronize(Device device) {
  if (device.is_cpu()) return;
  capture_check("synchronising with a device");
#if defined(DYBAT_CUDA)
  ++transfer_counters().syncs;
  DYBAT_CUDA_CHECK(cudaStreamSynchronize(cuda::stream(device.index)));
#endif
}

void copy_into(const Tensor& dst, const Tensor& src) {
  DYBAT_CHECK(dst.shape() == src.shape(), "copy: destination shape ", shape_str(dst.shape()),
              " differs from source shape ", shape_str(src.shape()));
  if (dst.numel() == 0) return;
  Device dd = dst.device(), sd = src.device();
  if (dd.is_cpu() && sd.is_cpu()) return cpu::copy_into(dst, src);
#if defined(DYBAT_CUDA)
  if (dd == sd) return cuda::copy_into(dst, src);
  if (dd.is_cuda() && sd.is_cuda()) return copy_into(dst, src.to(Device::cpu()));  // rare: between GPUs via host
  if (dd.is_cuda()) {  // host -> device: convert and pack on the host, then one transfer
    Tensor staged = (src.dtype() == dst.dtype() && src.is_contiguous()) ? src : src.to(dst.dtype()).contiguous();
    if (dst.is_contiguous()) {
      cuda::copy_host_to_device(dst.data_ptr(), staged.data_ptr(), dst.nbytes(), dd.index);
    } else {
      Tensor tmp = Tensor::empty(dst.shape(), dst.dtype(), dd);
      cuda::copy_host_to_device(tmp.data_ptr(), staged.data_ptr(), tmp.nbytes(), dd.index);
      cuda::copy_into(dst, tmp);
    }
    return;
  }
  // device -> host: pack on the device, one transfer, convert on the host
  Tensor packed = src.is_contiguous() ? src : src.contiguous();
  if (dst.is_contiguous() && dst.dtype() == src.dtype()) {
    cuda::copy_device_to_host(dst.data_ptr(), packed.data_ptr(), dst.nbytes(), sd.index);
  } else {
    Tensor tmp = Tensor::empty(src.shape(), src.dtype(), Device::cpu());
    cuda::copy_device_to_host(tmp.data_ptr(), packed.data_ptr(), tmp.nbytes(), sd.index);
    cpu::copy_into(dst, tmp);
  }
#else
  DYBAT_FAIL("copy to/from ", (dd.is_cuda() ? dd : sd).str(), ": this build has no CUDA backend");
#endif
}

void fill_into(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  if (dst.device().is_cpu()) return cpu::fill_into(dst, value);
#if defined(DYBAT_CUDA)
  cuda::fill_into(dst, value);
#endif
}

void advance_counter(const Tensor& counter) {
  DYBAT_CHECK(counter.dtype() == DType::Int64 && counter.numel() == 1, "advance_counter: expected one int64, got ",
              counter.str());
  if (counter.device().is_cpu()) return cpu::advance_counter(counter);
#if defined(DYBAT_CUDA)
  cuda::advance_counter(counter);
#endif
}

void add_into(const Tensor& dst, const Tensor& src) {
  DYBAT_CHECK(dst.shape() == src.shape(), "add_into: shapes ", shape_str(dst.shape()), " and ", shape_str(src.shape()),
              " differ");
  check_same_device(dst, src, "add_into");
  check_same_dtype(dst, src, "add_into");
  if (dst.numel() == 0) return;
  if (dst.device().is_cpu()) return cpu::add_into(dst, src);
#if defined(DYBAT_CUDA)
  cuda::add_into(dst, src);
#endif
}

#if defined(DYBAT_CUDA)
namespace cuda {
void copy_host_to_device(void* dst, const void* src, size_t bytes, int device) {
  // From pageable host memory the runtime waits for the stream before the copy and returns once
  // the source has been staged, so the caller may free it at once; that wait counts as a sync.
  capture_check("copying from the host to a device");
  ++transfer_counters().host_to_device;
  ++transfer_counters().syncs;
  DYBAT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream(device)));
}
void copy_device_to_host(void* dst, const void* src, size_t bytes, int device) {
  capture_check("copying from a device to the host");
  ++transfer_counters().device_to_host;
  ++transfer_counters().syncs;
  DYBAT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream(device)));
  DYBAT_CUDA_CHECK(cudaStreamSynchronize(stream(device)));
}
}  // namespace cuda
#endif

}  // namespace dybat

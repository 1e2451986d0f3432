// Data movement every layer needs, on both devices: strided copies with dtype conversion, fills,
// and in-place accumulation (used by autograd to sum gradients). Stateless, like kernels/.
//
// Contract: shapes of dst and src must match; strides may be anything (dst must not overlap
// src). copy_into crosses devices through a contiguous staging copy. All CUDA work is queued on
// the device's stream; only device-to-host copies synchronise (and are counted).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace dybat {

void copy_into(const Tensor& dst, const Tensor& src);
void fill_into(const Tensor& dst, double value);
// dst += src elementwise (same shape, dtype and device; floating types).
void add_into(const Tensor& dst, const Tensor& src);
// counter[0] += 1 for a one-element int64 tensor, queued on its device like any kernel (the host
// reads nothing): the cursors and counts that a captured CUDA graph advances on every replay.
void advance_counter(const Tensor& counter);

// Counters of host/device traffic, so tests can assert that a training step never reads the
// device. `host_reads` counts every read of tensor values by the host (item, to_vector) on any
// device, which lets the CPU backend test the same rule; the others count CUDA operations.
struct TransferCounters {
  uint64_t host_reads = 0;
  uint64_t device_to_host = 0;
  uint64_t host_to_device = 0;
  uint64_t syncs = 0;
};
TransferCounters& transfer_counters();

// Waits for all queued work on `device` (a counted synchronisation; nothing on the CPU).
void synchronize(Device device);

}  // namespace dybat

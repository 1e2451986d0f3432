// Device work shared by the selection methods (train/select_method.h): the trace row of a step
// that trains samples rather than one batch, the seeds of the methods' random streams, and the
// Philox draws they make.
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/philox.h"
#include "core/tensor.h"

namespace dybat {

// Each method draws from its own stream family: the run's seed mixed with a tag of the method,
// so its numbers never coincide with the weight initialisation's or the augmentation's streams
// (which use the seed itself).
enum class SelectStream : uint64_t {
  Random = 0x52414e444f4d0001ull,     // random: a pass's batch keys
  Selective = 0x53454c4241434b01ull,  // selective-backprop: each scored sample's draw
  InfoBatch = 0x494e464f42415401ull,  // infobatch: an epoch's pruning keys
};
DYBAT_HD uint64_t select_seed(uint64_t seed, SelectStream s) { return seed ^ static_cast<uint64_t>(s); }

// The uniform float32 in [0, 1) (24 bits, exact) of element `index` of stream `offset`.
DYBAT_HD float select_uniform(uint64_t seed, SelectStream s, uint64_t offset, uint64_t index) {
  return uniform_float(philox_block(select_seed(seed, s), offset, index).x);
}

// Kernel level. A trace row for a step without a single batch: trace_ids[slot] = -1 and
// trace_loss[slot] = float32(mean(losses)) (summed in double in sample order on the CPU, by the
// fixed-order block tree on CUDA), with step = counters[0] + 1 and slot = counters[1] read on the
// device; a slot outside the buffers writes no row. A non-finite mean sets bad_step[0] = step
// when it is 0. counters[0] and counters[1] then advance by one (counters as SelectionState's).
void record_sample_loss(const Tensor& losses, const Tensor& counters, const Tensor& trace_ids,
                        const Tensor& trace_loss, const Tensor& bad_step);

}  // namespace dybat

// The random control (--select random, see select_method.h): DyBAT's passes with batches chosen
// uniformly at random, so a comparison with DyBAT isolates what the hardness adds.
//
// At the first step of each selection pass (pass p >= 1, position 0, k < b) every batch i gets
// the key select_uniform(seed, Random, p, i), a uniform float32 from 24 random bits, and the
// schedule's own top-k kernel picks the k highest keys (ties to the lower id), visited in
// ascending id order: k distinct batches, each subset equally likely up to the ties. The
// warm-up pass, the budget, the trace and the scores are DyBAT's. Nothing new is checkpointed:
// a pass's keys follow from (seed, pass).
#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace dybat {

// Kernel level: with step = step_counter[0] (the step about to run, read on the device), when
// it starts a selection pass p of b = keys.numel() batches and k per pass, keys[i] =
// select_uniform(seed, Random, p, i) for every i; otherwise keys stay as they are.
void random_pass_keys(const Tensor& step_counter, int64_t k, uint64_t seed, const Tensor& keys);

struct MethodContext;
class SelectMethod;
std::unique_ptr<SelectMethod> make_random_select(const MethodContext& ctx);

}  // namespace dybat

// CPU twin of the random control's key kernel (see select_random.h): the step read from (host)
// memory, the keys from the shared Philox formula.
#include "train/backend.h"
#include "train/select_common.h"
#include "train/select_random.h"

namespace dybat::cpu {

void random_pass_keys(const Tensor& step_counter, int64_t k, uint64_t seed, const Tensor& keys) {
  const int64_t b = keys.numel();
  int64_t pass = 0, pos = 0;
  schedule_place(b, k, *step_counter.data<int64_t>(), pass, pos);
  if (pass == 0 || pos != 0 || k == b) return;
  float* key = keys.data<float>();
  for (int64_t i = 0; i < b; ++i)
    key[i] = select_uniform(seed, SelectStream::Random, static_cast<uint64_t>(pass), static_cast<uint64_t>(i));
}

}  // namespace dybat::cpu

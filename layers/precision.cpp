// Mixed-precision policy of a net (see precision.h).
#include "layers/precision.h"

#include "layers/conv.h"
#include "layers/linear.h"

namespace dybat {

DType check_compute_dtype(DType d, const char* layer) {
  DYBAT_CHECK(d == DType::Float32 || d == DType::BFloat16, layer, ": compute dtype must be float32 or bfloat16, got ",
              dtype_name(d));
  return d;
}

int64_t set_compute_dtype(Module& net, DType compute) {
  check_compute_dtype(compute, "set_compute_dtype");
  int64_t n = 0;
  net.visit([&](const std::string&, Module& m) {
    if (auto* c = dynamic_cast<Conv2d*>(&m)) {
      c->set_compute_dtype(compute);
      ++n;
    } else if (auto* l = dynamic_cast<Linear*>(&m)) {
      l->set_compute_dtype(compute);
      ++n;
    }
  });
  return n;
}

DType precision_from_name(const std::string& name) {
  if (name == "fp32") return DType::Float32;
  if (name == "bf16") return DType::BFloat16;
  DYBAT_FAIL("unknown precision '", name, "' (expected fp32 or bf16)");
}

}  // namespace dybat

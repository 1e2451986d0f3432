// Initialisation rules (see init.h).
#include "nets/init.h"

#include <cmath>

#include "layers/conv.h"
#include "layers/linear.h"

namespace dybat {

namespace {
void set(Tensor& t, const Tensor& value) { t.set_data(value.to(t.dtype())); }
}  // namespace

void init_resnet(Module& net, Generator& g) {
  net.visit([&](const std::string&, Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
      // kaiming_normal_(mode='fan_out', nonlinearity='relu'): gain sqrt(2), fan_out = C_out*kH*kW
      // (PyTorch's fan_out ignores groups; every ResNet conv here has groups 1).
      double fan_out = static_cast<double>(conv->out_channels()) * conv->kernel() * conv->kernel();
      set(conv->weight, Tensor::normal(conv->weight.shape(), 0.0, std::sqrt(2.0 / fan_out), g));
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* fc = dynamic_cast<Linear*>(&m)) {
      // nn.Linear's reset_parameters: kaiming_uniform(a=sqrt(5)) gives U(+-1/sqrt(fan_in)) for the
      // weight, and the bias uses the same bound.
      double bound = 1.0 / std::sqrt(static_cast<double>(fc->in_features()));
      set(fc->weight, Tensor::uniform(fc->weight.shape(), -bound, bound, g));
      if (fc->bias.defined()) set(fc->bias, Tensor::uniform(fc->bias.shape(), -bound, bound, g));
    }
  });
}

void init_goog(Module& net, Generator& g) {
  net.visit([&](const std::string&, Module& m) {
    if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
      double fan_out = static_cast<double>(conv->fan_out());
      set(conv->weight, Tensor::normal(conv->weight.shape(), 0.0, std::sqrt(2.0 / fan_out), g));
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* fc = dynamic_cast<Linear*>(&m)) {
      // fan-out, not fan-in: U(+-1/sqrt(num_classes)).
      double bound = 1.0 / std::sqrt(static_cast<double>(fc->out_features()));
      set(fc->weight, Tensor::uniform(fc->weight.shape(), -bound, bound, g));
      if (fc->bias.defined()) fc->bias.zero_();
    }
  });
}

}  // namespace dybat

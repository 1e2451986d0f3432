// The reference trainer. One training step on batch id of B samples x [B, inputs], labels y [B]:
//
//   forward   pre   = fc1(x)               [B, hidden]
//             act   = relu(pre)            [B, hidden]
//             z     = fc2(act)             [B, classes]
//             l     = cross_entropy(z, y)  [B], and the step's loss is mean(l)
//   backward  dl = 1/B for every sample (the gradient of the mean), then each layer's backward
//             in reverse order, adding into gradients that start at zero
//   update    SGD with momentum on fc1.weight, fc1.bias, fc2.weight, fc2.bias
//
// The batches come in the order DyBAT chooses (train/reference/dybat.h): the trainer only says
// how to train one batch and hands that to run_dybat.
#include "train/reference/trainer.h"

#include "kernels/reference/activation.h"
#include "kernels/reference/loss.h"
#include "kernels/reference/matmul.h"

namespace dybat::ref {

namespace {

// What one batch's forward computes (and its backward reads).
struct Forward {
  std::vector<double> pre;     // [B, hidden]   fc1's output
  std::vector<double> act;     // [B, hidden]   relu(pre)
  std::vector<double> logits;  // [B, classes]
  std::vector<double> losses;  // [B]
};

Forward forward(const Mlp& net, int64_t B, const double* x, const int64_t* y) {
  Forward f{std::vector<double>(B * net.hidden), std::vector<double>(B * net.hidden),
            std::vector<double>(B * net.classes), std::vector<double>(B)};
  linear_forward(B, net.inputs, net.hidden, x, net.fc1_weight.data(), net.fc1_bias.data(), f.pre.data());
  activation_forward(Activation::ReLU, B * net.hidden, f.pre.data(), f.act.data());
  linear_forward(B, net.hidden, net.classes, f.act.data(), net.fc2_weight.data(), net.fc2_bias.data(), f.logits.data());
  cross_entropy_forward(B, net.classes, f.logits.data(), y, f.losses.data());
  return f;
}

double mean(const std::vector<double>& v) {
  double sum = 0.0;
  for (double e : v) sum += e;
  return sum / static_cast<double>(v.size());
}

// The four parameters of a net (or of its gradients, or of its momentum buffers), in order.
std::vector<std::vector<double>*> tensors_of(Mlp& m) { return {&m.fc1_weight, &m.fc1_bias, &m.fc2_weight, &m.fc2_bias}; }

// A net of net's shape with every value zero.
Mlp zeros_like(const Mlp& net) {
  return {net.inputs, net.hidden, net.classes, std::vector<double>(net.fc1_weight.size()),
          std::vector<double>(net.fc1_bias.size()), std::vector<double>(net.fc2_weight.size()),
          std::vector<double>(net.fc2_bias.size())};
}

}  // namespace

std::vector<ScheduleStep> train_mlp(Mlp& net, const Samples& data, const TrainSettings& settings) {
  const int64_t B = settings.batch_size, num_batches = data.count / B;
  Mlp momentum = zeros_like(net);  // SGD's buffers, one per parameter
  bool first_step = true;

  auto train_step = [&](int64_t id) {
    const double* x = &data.inputs[id * B * data.features];  // [B, inputs]
    const int64_t* y = &data.labels[id * B];                 // [B]
    const Forward f = forward(net, B, x, y);

    Mlp grad = zeros_like(net);
    std::vector<double> dlosses(B, 1.0 / static_cast<double>(B));  // [B]
    std::vector<double> dlogits(B * net.classes), dact(B * net.hidden), dpre(B * net.hidden);
    cross_entropy_backward(B, net.classes, dlosses.data(), f.logits.data(), y, dlogits.data());
    linear_backward(B, net.hidden, net.classes, dlogits.data(), f.act.data(), net.fc2_weight.data(), dact.data(),
                    grad.fc2_weight.data(), grad.fc2_bias.data());
    activation_backward(Activation::ReLU, B * net.hidden, dact.data(), f.pre.data(), dpre.data());
    linear_backward(B, net.inputs, net.hidden, dpre.data(), x, net.fc1_weight.data(), nullptr, grad.fc1_weight.data(),
                    grad.fc1_bias.data());

    const auto params = tensors_of(net), grads = tensors_of(grad), buffers = tensors_of(momentum);
    for (size_t t = 0; t < params.size(); ++t)
      sgd_step(settings.sgd, static_cast<int64_t>(params[t]->size()), params[t]->data(), grads[t]->data(),
               buffers[t]->data(), first_step);
    first_step = false;
    return mean(f.losses);
  };
  return run_dybat(num_batches, settings.delta, settings.epochs, settings.zeta, train_step);
}

double mean_loss(const Mlp& net, const Samples& data, int64_t batch_size) {
  double sum = 0.0;
  const int64_t num_batches = data.count / batch_size;
  for (int64_t id = 0; id < num_batches; ++id)
    sum += mean(forward(net, batch_size, &data.inputs[id * batch_size * data.features], &data.labels[id * batch_size])
                    .losses);
  return sum / static_cast<double>(num_batches);
}

}  // namespace dybat::ref

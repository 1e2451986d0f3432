// The step policy built on CUDA graphs (see graphed_step.h).
#include "train/graphed_step.h"

#include "core/capture.h"
#include "core/error.h"

namespace dybat {

GraphedStep::GraphedStep(Device device, Mode mode, std::string name)
    : device_(device), mode_(mode), name_(std::move(name)) {
  if (mode_ == Mode::Graph) graph_ = std::make_unique<CudaGraph>(device_, name_);
}

GraphedStep::~GraphedStep() = default;

void GraphedStep::run(const std::function<void()>& step) {
  ++calls_;
  switch (mode_) {
    case Mode::Eager:
      step();
      return;
    case Mode::Audit:
      if (calls_ <= 2) {
        step();
      } else {
        CaptureScope scope(name_);
        step();
      }
      return;
    case Mode::Graph:
      if (calls_ == 1) {
        step();  // lazy state appears outside the graph's pool
      } else if (calls_ == 2) {
        graph_->warm_up(step);
      } else {
        if (!graph_->captured()) {
          try {
            graph_->capture(step);
          } catch (const Error& e) {
            DYBAT_FAIL(e.message(), "; hint: --cuda-graph off runs the steps without CUDA graphs");
          }
        }
        graph_->replay();
      }
      return;
  }
}

namespace {

// The loop flag as the host sees it: read in place on the CPU, copied back from a CUDA device.
bool flag_set(const Tensor& flag) {
  if (flag.device().is_cpu()) return *flag.data<int32_t>() != 0;
  return flag.item() != 0.0;
}

}  // namespace

void GraphedStep::run_while(const Tensor& flag, const std::function<void()>& before,
                            const std::function<void()>& body, const std::function<void()>& after) {
  DYBAT_CHECK(flag.defined() && flag.dtype() == DType::Int32 && flag.numel() == 1 && flag.device() == device_,
              "GraphedStep::run_while: the flag must be one int32 on ", device_.str());
  auto eager = [&] {
    before();
    while (flag_set(flag)) body();
    after();
  };
  if (mode_ != Mode::Graph || calls_ < 2) {
    run(eager);
    return;
  }
  ++calls_;
  if (!graph_->captured()) {
    try {
      graph_->capture_while(before, flag.data<int32_t>(), body, after);
    } catch (const Error& e) {
      DYBAT_FAIL(e.message(), "; hint: --cuda-graph off runs the steps without CUDA graphs");
    }
  }
  graph_->replay();
}

}  // namespace dybat

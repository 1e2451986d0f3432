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

}  // namespace dybat

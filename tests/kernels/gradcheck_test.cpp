// The gradient checker must catch a wrong backward, an assign-instead-of-accumulate mistake,
// and pass a correct one.
#include "kernels/gradcheck.h"

#include "core/autograd.h"
#include "core/copy.h"
#include "kernels/elementwise.h"
#include "support/test_util.h"

using namespace dybat;
using dybat::test::rand;

namespace {
// y = x^2 elementwise with a backward supplied by the test.
Tensor square_with(const Tensor& x, std::function<Tensor(const Tensor& dout, const Tensor& x)> back) {
  Tensor y;
  {
    NoGradGuard ng;
    y = x * x;
  }
  if (x.requires_grad()) {
    Tensor xd = x.detach();
    auto node = std::make_shared<autograd::LambdaNode>(
        "TestSquare", [back, xd](const Tensor& d) { return std::vector<Tensor>{back(d, xd)}; });
    autograd::connect(node, {&x}, y);
  }
  return y;
}
}  // namespace

TEST(Gradcheck, PassesACorrectBackward) {
  Tensor x = rand({3, 4}, 1, -1, 1, true);
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) { return square_with(in[0], [](auto& d, auto& x) { return d * x * 2.0; }); },
      {x});
  EXPECT_TRUE(r.ok) << r.worst_where;
}

TEST(Gradcheck, CatchesAWrongBackward) {
  Tensor x = rand({3, 4}, 1, -1, 1, true);
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) { return square_with(in[0], [](auto& d, auto& x) { return d * x * 2.1; }); },
      {x});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.worst_where.find("input 0"), std::string::npos);
}

TEST(Gradcheck, CatchesAGradientThatReadsUninitialisedMemory) {
  // A backward that accumulates into a fresh (uninitialised) buffer instead of assigning it.
  Tensor x = rand({5}, 2, -1, 1, true);
  auto r = gradcheck(
      [](const std::vector<Tensor>& in) {
        return square_with(in[0], [](const Tensor& d, const Tensor& x) {
          Tensor g = Tensor::empty(x.shape(), x.dtype());
          add_into(g, d * x * 2.0);  // "+=" into junk
          return g;
        });
      },
      {x});
  EXPECT_FALSE(r.ok);
}

namespace {
// y = 3x, whose backward writes the parameter gradient with "=" where "+=" is due.
class OverwritingNode : public Node {
 public:
  explicit OverwritingNode(Tensor x) : x_(std::move(x)) {}
  const char* name() const override { return "OverwritingNode"; }
  std::vector<Tensor> backward(const Tensor& dout) override {
    Tensor target = grad_target(0, x_);
    copy_into(target, dout * 3.0);
    return {target};
  }

 private:
  Tensor x_;
};
}  // namespace

TEST(Gradcheck, CatchesAParameterGradientThatOverwritesInsteadOfAccumulating) {
  Tensor x = rand({4}, 3, -1, 1, true);
  auto f = [](const std::vector<Tensor>& in) {
    Tensor y;
    {
      NoGradGuard ng;
      y = in[0] * 3.0;
    }
    if (in[0].requires_grad()) autograd::connect(std::make_shared<OverwritingNode>(in[0].detach()), {&in[0]}, y);
    return y;
  };
  auto r = gradcheck(f, {x});
  EXPECT_FALSE(r.ok);
}

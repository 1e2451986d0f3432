// The net registry: canonical names, aliases, and construction (see registry.h).
#include "nets/registry.h"

#include "nets/efficientnet.h"
#include "nets/resnet.h"

namespace dybat {

std::vector<std::string> net_names() {
  return {"resnet18", "resnet50", "efficientnet_b4", "efficientnetv2_s", "mobilenetv3_small_100"};
}

std::string canonical_net_name(const std::string& name) {
  for (const auto& n : net_names())
    if (name == n) return n;
  if (name == "mobilenetv3_small") return "mobilenetv3_small_100";
  if (name == "effnetv2_s") return "efficientnetv2_s";
  if (name == "effnet_b4") return "efficientnet_b4";
  return "";
}

std::shared_ptr<Module> create_net(const std::string& name, int num_classes, Generator& g) {
  const std::string n = canonical_net_name(name);
  DYBAT_CHECK(num_classes > 0, "create_net('", name, "'): num_classes must be positive, got ", num_classes);
  if (n == "resnet18") return make_resnet18(num_classes, g);
  if (n == "resnet50") return make_resnet50(num_classes, g);
  if (n == "efficientnet_b4") return make_efficientnet_b4(num_classes, g);
  if (n == "efficientnetv2_s") return make_efficientnetv2_s(num_classes, g);
  if (n == "mobilenetv3_small_100") return make_mobilenetv3_small_100(num_classes, g);
  std::string known;
  for (const auto& k : net_names()) known += (known.empty() ? "" : ", ") + k;
  DYBAT_FAIL("unknown net '", name, "'; known nets: ", known, " (aliases: mobilenetv3_small, effnetv2_s, effnet_b4)");
}

}  // namespace dybat

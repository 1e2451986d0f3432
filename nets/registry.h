// The five nets by name, built exactly as timm 1.0.22 builds them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/philox.h"
#include "layers/module.h"

namespace dybat {

// Canonical names: resnet18, resnet50, efficientnet_b4, efficientnetv2_s, mobilenetv3_small_100;
// aliases: mobilenetv3_small, effnetv2_s, effnet_b4. Returns "" for an unknown name.
std::string canonical_net_name(const std::string& name);
std::vector<std::string> net_names();

// Builds a net with timm's default initialisation drawn from the Philox generator `g` (on the
// host, float32, CPU); move it with Module::to(). Throws on an unknown name, listing the names.
std::shared_ptr<Module> create_net(const std::string& name, int num_classes, Generator& g);

}  // namespace dybat

// Process-wide backend settings: TF32 use on the GPU, as PyTorch's flags
// (torch.backends.cudnn.allow_tf32 = on, torch.backends.cuda.matmul.allow_tf32 = off by default),
// and deterministic algorithm choice. Tests switch TF32 off.
#pragma once

namespace dybat {

struct BackendSettings {
  bool tf32_conv = true;
  bool tf32_matmul = false;
  bool deterministic = false;  // choose only deterministic cuDNN algorithms
};

BackendSettings& backend_settings();

}  // namespace dybat

// Process-wide backend settings: TF32 use on the GPU, as PyTorch's flags
// (torch.backends.cudnn.allow_tf32 = on, torch.backends.cuda.matmul.allow_tf32 = off by default),
// deterministic algorithm choice, and how cuDNN convolution algorithms are chosen. Tests switch
// TF32 off, and tests that compare float32 results with a float64 reference also exclude the FFT
// and Winograd convolution algorithms. A convolution's cached choice follows these settings:
// changing one makes the next call of each geometry choose again (kernels/conv2d_choice.h).
#pragma once

#include <cstddef>

namespace dybat {

// How conv2d picks a cuDNN algorithm for a new geometry (once per geometry and direction):
// Heuristic asks cuDNN's heuristics (no kernels run, the same answer on every run); Measure times
// the candidates on the device (cudnnFind*Ex: faster kernels, but the answer may differ between
// runs, so a run records its choices in its checkpoint and a resumed run reuses them).
enum class ConvAlgoSearch { Heuristic, Measure };

struct BackendSettings {
  bool tf32_conv = true;
  bool tf32_matmul = false;
  bool deterministic = false;  // choose only deterministic cuDNN algorithms
  ConvAlgoSearch conv_algo = ConvAlgoSearch::Heuristic;
  size_t workspace_limit_bytes = size_t(2) << 30;  // algorithms needing more workspace are skipped
  // Skip cuDNN's FFT and Winograd convolution algorithms. They compute in a transformed domain:
  // in float32 their error is about 1e-5 to 1e-4 of the result's scale, against about 1e-6 for
  // the direct and GEMM-based algorithms, more than a golden test's tolerance allows over a deep
  // net. Off by default (training does not need it; PyTorch does not exclude them either).
  bool conv_exclude_fft_winograd = false;
};

BackendSettings& backend_settings();

// "heuristic" / "measure" and back (throws on another name).
ConvAlgoSearch conv_algo_search_from_name(const char* name);
const char* conv_algo_search_name(ConvAlgoSearch s);

}  // namespace dybat

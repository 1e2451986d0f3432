// Where a tensor lives: the CPU, or CUDA device n.
#pragma once

#include <string>

namespace dybat {

struct Device {
  enum class Kind : unsigned char { CPU, CUDA };
  Kind kind = Kind::CPU;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {Kind::CUDA, i}; }
  bool is_cpu() const { return kind == Kind::CPU; }
  bool is_cuda() const { return kind == Kind::CUDA; }
  bool operator==(const Device& o) const { return kind == o.kind && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"

  // Parses "cpu", "cuda", "cuda:N" or a bare integer N (meaning cuda:N); throws on anything else.
  static Device parse(const std::string& text);
};

// True when this build has the CUDA backend and a CUDA device can be used.
bool cuda_available();
int cuda_device_count();

}  // namespace dybat

// Per-element math of the binary ops, shared by the CPU loops and the CUDA kernels.
#pragma once

#include "core/hd.h"
#include "kernels/elementwise.h"

namespace dybat {

template <class T>
DYBAT_HD T binary_apply(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return a;
}

}  // namespace dybat

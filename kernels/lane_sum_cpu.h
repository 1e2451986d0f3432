// Eight-lane sums in double for the CPU kernels: the fixed summation order that makes their
// reductions both vectorisable and reproducible (include from *_cpu.cpp files only).
//
// Lane l accumulates the terms of indices l, l + 8, l + 16, ... in order; total() combines the
// lanes pairwise, ((0+1)+(2+3))+((4+5)+(6+7)). Eight independent accumulators let the compiler
// keep them in vector registers, and the order depends only on the indices, never on threads or
// timing, so a kernel that sums this way gives bit-identical results run to run.
#pragma once

#include <cstdint>

namespace dybat::cpu {

constexpr int kLanes = 8;

struct LaneSum {
  double a[kLanes] = {};

  // Adds term(i) for i in [0, n) (each i into lane i mod 8).
  template <class Term>
  void add(int64_t n, Term&& term) {
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) a[l] += term(i + l);
    for (int l = 0; i < n; ++i, ++l) a[l] += term(i);
  }
  // Adds one term of index i (into lane i mod 8), for loops that visit indices one by one.
  void add_at(int64_t i, double v) { a[i & (kLanes - 1)] += v; }
  double total() const { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }
};

// Two sums over the same indices in one pass: terms(i, t1, t2) sets the two terms of index i.
template <class Terms>
void add_lanes2(LaneSum& s1, LaneSum& s2, int64_t n, Terms&& terms) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      double t1, t2;
      terms(i + l, t1, t2);
      s1.a[l] += t1;
      s2.a[l] += t2;
    }
  for (int l = 0; i < n; ++i, ++l) {
    double t1, t2;
    terms(i, t1, t2);
    s1.a[l] += t1;
    s2.a[l] += t2;
  }
}

}  // namespace dybat::cpu

// Per-sample and per-batch metric math shared by the CPU loops and the CUDA kernels (DYBAT_HD),
// so both backends compute torchmetrics' 'weighted' top-k accuracy and AUROC by one formula.
//
// The batch is logits [n, c] (row-major) and labels [n]. The AUROC of class k compares the scores
// of its positives with those of its negatives; every sample is a positive of exactly one class
// (its label), so all the pairs that matter are (i, j) with y_j != y_i, compared on column y_i:
//   cnt2_i = sum_{j : y_j != y_i} ( 2 [P_i,yi > P_j,yi] + [P_i,yi == P_j,yi] )
// and S_k = sum_{i : y_i = k} cnt2_i is twice the tie-halved pair count of class k, an exact
// integer. AUC_k = S_k / (2 n+_k n-_k), and the weighted mean over classes with weights n+_k is
//   sum_k n+_k AUC_k / n = (1/n) sum_k S_k / (2 n-_k),
// with AUC_k = 0 when n+_k = 0 or n-_k = 0 (torchmetrics' value for an absent or only class).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/hd.h"

namespace dybat {

DYBAT_HD float metric_exp(float v) { return expf(v); }
DYBAT_HD double metric_exp(double v) { return exp(v); }

// True when v lies in [0, 1] (false for NaN, as torchmetrics' `((0 <= p) * (p <= 1)).all()`).
template <class T>
DYBAT_HD bool in_unit_interval(T v) {
  return v >= T(0) && v <= T(1);
}

// Position of the label's logit in the row sorted descending, ties to the lower class index:
// the label is in the top k iff this is < k (k = 1 is argmax with its lowest-index rule).
template <class T>
DYBAT_HD int64_t label_rank(const T* row, int64_t c, int64_t y) {
  T zy = row[y];
  int64_t rank = 0;
  for (int64_t j = 0; j < c; ++j) rank += (row[j] > zy) || (row[j] == zy && j < y);
  return rank;
}

// One row: the AUROC scores (softmax of the logits, or the logits themselves when the whole
// batch lies in [0, 1]) into prow, and the top-1 / top-k hits as bits 0 / 1 of *hit.
// Softmax in the row's precision: exp(z - max) / sum, the sum in row order.
template <class T>
DYBAT_HD void metrics_row(const T* row, int64_t c, int64_t y, bool raw_scores, int64_t top_k, T* prow, uint8_t* hit) {
  if (raw_scores) {
    for (int64_t j = 0; j < c; ++j) prow[j] = row[j];
  } else {
    T m = row[0];
    for (int64_t j = 1; j < c; ++j) m = row[j] > m ? row[j] : m;
    T s = T(0);
    for (int64_t j = 0; j < c; ++j) {
      prow[j] = metric_exp(row[j] - m);
      s += prow[j];
    }
    for (int64_t j = 0; j < c; ++j) prow[j] = prow[j] / s;
  }
  uint8_t h = 0;
  if (y >= 0 && y < c) {
    int64_t r = label_rank(row, c, y);
    h = static_cast<uint8_t>((r < 1 ? 1 : 0) | (r < top_k ? 2 : 0));
  }
  *hit = h;
}

// cnt2_i (see the file comment) for sample i; 0 for a label outside [0, c).
template <class T>
DYBAT_HD int64_t auroc_pair_count(const T* P, const int64_t* labels, int64_t n, int64_t c, int64_t i) {
  int64_t yi = labels[i];
  if (yi < 0 || yi >= c) return 0;
  T pi = P[i * c + yi];
  int64_t cnt = 0;
  for (int64_t j = 0; j < n; ++j) {
    if (labels[j] == yi) continue;
    T pj = P[j * c + yi];
    cnt += pi > pj ? 2 : (pi == pj ? 1 : 0);
  }
  return cnt;
}

// The batch's four values, added to acc[0..4] = {batches, loss, top-1, top-k, AUROC} (fractions,
// not percent). Serial and in a fixed order, so both backends give the same sums. scratch holds
// 2c int64 (zeroed here). The batch loss is the mean of the per-sample losses rounded to their
// type, as the training step's loss.
template <class T>
DYBAT_HD void metrics_finish(const T* losses, const int64_t* labels, const int64_t* cnt2, const uint8_t* hits,
                             int64_t n, int64_t c, int64_t* scratch, double* acc) {
  int64_t* pos = scratch;      // n+_k
  int64_t* pairs = scratch + c;  // S_k
  for (int64_t k = 0; k < c; ++k) pos[k] = pairs[k] = 0;
  double loss = 0.0;
  int64_t top1 = 0, topk = 0, counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    loss += static_cast<double>(losses[i]);
    top1 += hits[i] & 1;
    topk += (hits[i] >> 1) & 1;
    int64_t y = labels[i];
    if (y >= 0 && y < c) {
      ++pos[y];
      pairs[y] += cnt2[i];
      ++counted;
    }
  }
  double auroc = 0.0;
  for (int64_t k = 0; k < c; ++k) {
    int64_t neg = counted - pos[k];
    if (pos[k] > 0 && neg > 0) auroc += static_cast<double>(pairs[k]) / (2.0 * static_cast<double>(neg));
  }
  double inv_n = 1.0 / static_cast<double>(n);
  acc[0] += 1.0;
  acc[1] += static_cast<double>(static_cast<T>(loss * inv_n));
  acc[2] += static_cast<double>(top1) * inv_n;
  acc[3] += static_cast<double>(topk) * inv_n;
  acc[4] += counted > 0 ? auroc / static_cast<double>(counted) : 0.0;
}

}  // namespace dybat

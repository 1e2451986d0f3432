// Softmax cross-entropy per sample, the reference, in plain loops in double (loss.cpp). The fast
// versions are kernels/loss_cpu.cpp and kernels/loss.cu. Conventions: see conv2d.h.
#pragma once

#include <cstdint>

namespace dybat::ref {

// losses [batch] from logits [batch, classes] and labels [batch] (each in [0, classes)).
void cross_entropy_forward(int64_t batch, int64_t classes, const double* logits, const int64_t* labels,
                           double* losses);
// Adds the gradient of <dlosses, losses> into dlogits [batch, classes].
void cross_entropy_backward(int64_t batch, int64_t classes, const double* dlosses, const double* logits,
                            const int64_t* labels, double* dlogits);

}  // namespace dybat::ref

// descent/loss.h — loss functions chosen by name, as the trainer and configs use them.
//
// The math lives in descent/ops.h (cross_entropy and nll_loss are fused primitives for
// stability; mse_loss is composite). A Loss adapts the batch's targets: integer class labels
// for cross-entropy, and for mse either float targets of the output's shape or integer labels
// turned into one-hot rows (the lecture's squared error on a classifier).
//
//   auto loss = descent::loss::make_loss(cfg.loss);        // [loss] type = "cross_entropy"
//   descent::Tensor l = (*loss)(logits, labels);
#pragma once
#include <memory>
#include <string>

#include "descent/config.h"
#include "descent/ops.h"

namespace descent::loss {

/// A loss on (model output, batch target).
class Loss {
 public:
  virtual ~Loss() = default;
  /// The scalar loss of a batch.
  virtual Tensor operator()(const Tensor& output, const Tensor& target) const = 0;
  /// Name as in the config ("cross_entropy").
  virtual std::string name() const = 0;
  /// True when accuracy (argmax vs label) is meaningful for this loss.
  virtual bool classification() const { return true; }
};

/// Integer labels [N] to one-hot rows [N, C] of dtype.
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype);

/// Builds the [loss] section: "cross_entropy" (label_smoothing, weight), "mse", "nll",
/// "bce_with_logits" (weight, pos_weight), "l1", "huber" (delta), "smooth_l1" (beta), each with
/// `reduction`; unknown types or keys throw naming the field.
std::unique_ptr<Loss> make_loss(const Args& spec);

}  // namespace descent::loss

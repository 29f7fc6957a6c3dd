// descent/optim.h — optimizers with PyTorch's update rules and state.
//
// An optimizer holds the parameters it updates and their per-parameter state (momentum buffers,
// moment estimates). `step()` reads each parameter's .grad() and updates it in place outside
// autograd; `zero_grad()` clears the gradients. The lecture's full-batch gradient descent,
// single-sample SGD and minibatch SGD are all SGD: only the batch size differs.
//
// SGD (torch.optim.SGD), per parameter p with gradient g, at step t:
//   g ← g + weight_decay · p
//   if momentum ≠ 0:  b ← g (t = 1),  b ← momentum · b + (1 − dampening) · g (t > 1)
//                     g ← g + momentum · b (nesterov)  or  g ← b
//   p ← p − lr · g     (p ← p + lr · g with maximize)
//
//   descent::optim::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
//   opt.zero_grad(); loss.backward(); opt.step();
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "descent/nn.h"
#include "descent/tensor.h"

namespace descent::optim {

/// Base of every optimizer.
class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// Applies one update from the current gradients.
  virtual void step() = 0;
  /// Name as in torch.optim ("SGD").
  virtual std::string type_name() const = 0;
  /// Current learning rate.
  virtual double lr() const = 0;
  /// Sets the learning rate (schedules call this before each step).
  virtual void set_lr(double lr) = 0;
  /// Momentum (SGD) or beta1 (Adam family), for cycling schedules; NaN when not applicable.
  virtual double momentum() const;
  /// Sets momentum / beta1; throws when the optimizer has none.
  virtual void set_momentum(double m);
  /// Clears every parameter's gradient.
  void zero_grad();
  /// The parameters updated.
  const std::vector<Tensor>& params() const { return params_; }
  /// Steps taken so far.
  int64_t step_count() const { return steps_; }
  /// Per-parameter state tensors named "<param index>.<name>" (e.g. "0.momentum_buffer").
  virtual nn::NamedTensors state() const { return {}; }
  /// Restores state() output (and the step count) exactly; throws on a name or shape mismatch.
  virtual void load_state(const nn::NamedTensors& state, int64_t steps);

 protected:
  std::vector<Tensor> params_;
  int64_t steps_ = 0;
};

/// Options of SGD, as torch.optim.SGD.
struct SGDOptions {
  double lr = 0.01;            ///< learning rate
  double momentum = 0.0;       ///< momentum factor
  double dampening = 0.0;      ///< dampening of the momentum
  double weight_decay = 0.0;   ///< L2 penalty added to the gradient
  bool nesterov = false;       ///< Nesterov momentum (needs momentum > 0, dampening 0)
  bool maximize = false;       ///< ascend instead of descend
};

/// Stochastic gradient descent with momentum, Nesterov and weight decay.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options = {});
  void step() override;
  std::string type_name() const override { return "SGD"; }
  double lr() const override { return opt_.lr; }
  void set_lr(double lr) override { opt_.lr = lr; }
  double momentum() const override { return opt_.momentum; }
  void set_momentum(double m) override { opt_.momentum = m; }
  nn::NamedTensors state() const override;
  void load_state(const nn::NamedTensors& state, int64_t steps) override;
  /// The options in force.
  const SGDOptions& options() const { return opt_; }

 private:
  SGDOptions opt_;
  std::vector<Tensor> momentum_buffer_;
};

}  // namespace descent::optim

namespace descent::optim {
/// Builds the [optimizer] section for a model ("sgd" with lr, momentum, dampening, nesterov,
/// weight_decay, maximize); unknown types or keys throw naming the field.
std::unique_ptr<Optimizer> make_optimizer(const Args& spec, const nn::Module& model);
}  // namespace descent::optim

// check_module_gradients: backprop vs central differences on a module, its loss and a real batch.
//
// Why the one-sided differences: at a kink (ReLU at 0, a max-pool tie, abs) the central difference
// averages two slopes while backprop takes one of them, so a correct network "fails". There the
// forward and backward one-sided differences disagree by far more than the tolerance, and keep
// disagreeing at a 10x smaller step; a wrong backward on a smooth function shows neither sign.
// Backprop cannot be asked to match one of the two slopes: a pixel of an image's all-zero
// background ties many max-pool windows at once (every conv output there is the bias), each
// window picks its own side, and the sum matches neither one-sided slope.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "descent/autograd.h"
#include "descent/diag.h"
#include "diag/stats.h"

namespace descent::diag {
namespace {

void collect_dropouts(nn::Module& m, std::vector<nn::Dropout*>& out) {
  if (auto* d = dynamic_cast<nn::Dropout*>(&m)) out.push_back(d);
  for (auto& [name, child] : m.children()) collect_dropouts(*child, out);
}

// Distinct flat indices, all of them when n <= k, else k drawn without replacement, sorted.
std::vector<int64_t> sample_indices(int64_t n, int64_t k, Generator& gen) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  if (n <= k) return idx;
  for (int64_t i = 0; i < k; ++i) {  // partial Fisher-Yates
    const auto j = i + static_cast<int64_t>(gen.below(static_cast<uint64_t>(n - i)));
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(j)]);
  }
  idx.resize(static_cast<size_t>(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

// The layer a parameter belongs to: the first component of its name names a child.
struct Owner {
  int64_t index = -1;  // position among the children (-1: the module itself)
  std::string label;
};
Owner owner_of(const nn::Module& module, const std::string& param) {
  const std::string head = param.substr(0, param.find('.'));
  const auto& children = module.children();
  for (size_t i = 0; i < children.size(); ++i)
    if (children[i].first == head)
      return {static_cast<int64_t>(i), fmt::format("layer {} ({})", head, layer_type(*children[i].second))};
  return {-1, fmt::format("{} ({})", module.type_name(), layer_type(module))};
}

}  // namespace

std::string ModuleGradcheckResult::first_failure() const {
  for (const TensorCheck& t : tensors) {
    if (t.pass) continue;
    return fmt::format("{}: {} element {}: numeric {:.8g} vs analytic {:.8g} ({} of {} checked elements fail)",
                       t.layer, t.name, t.worst_index, t.worst_numeric, t.worst_analytic, t.failed, t.checked);
  }
  return "";
}

ModuleGradcheckResult check_module_gradients(nn::Module& module, const Tensor& input, const Tensor& target,
                                             const loss::Loss& loss, const ModuleGradcheckOptions& opt) {
  if (opt.samples <= 0) throw Error(fmt::format("gradcheck: samples must be positive, got {}", opt.samples));
  if (!(opt.eps > 0.0)) throw Error(fmt::format("gradcheck: eps must be positive, got {}", opt.eps));
  const nn::NamedTensors params = module.named_parameters();
  for (const auto& [name, p] : params)
    if (p.dtype() != DType::F64)
      throw Error(fmt::format("gradcheck: parameter '{}' is {}; gradients are checked in float64 (build the model "
                              "with dtype float64 or call module.to(DType::F64) first)", name, dtype_name(p.dtype())));
  if (!is_floating(input.dtype())) throw Error("gradcheck: the input batch must be floating point");

  if (!(opt.jitter >= 0.0)) throw Error(fmt::format("gradcheck: jitter must be >= 0, got {}", opt.jitter));
  Tensor x = input.detach().to(DType::F64).clone();
  if (opt.jitter > 0.0) {
    Generator jitter_gen(opt.seed + 1);
    x = (x + uniform(x.shape(), -opt.jitter, opt.jitter, jitter_gen, DType::F64)).detach();
  }
  if (opt.check_input) x.requires_grad_();
  const Tensor y = is_floating(target.dtype()) ? target.detach().to(DType::F64) : target;

  // Everything a forward may change, restored before each evaluation (masks) or at the end (buffers).
  std::vector<nn::Dropout*> dropouts;
  collect_dropouts(module, dropouts);
  std::vector<std::vector<uint64_t>> rng_states;
  for (auto* d : dropouts) rng_states.push_back(d->generator().state());
  auto reset_masks = [&] {
    for (size_t i = 0; i < dropouts.size(); ++i) dropouts[i]->generator().set_state(rng_states[i]);
  };
  std::vector<std::pair<Tensor, Tensor>> buffers;
  for (const auto& [name, b] : module.named_buffers()) buffers.emplace_back(b, b.clone());
  auto* seq = dynamic_cast<nn::Sequential*>(&module);

  // Analytic gradients.
  module.zero_grad();
  reset_masks();
  Tensor l = loss(module(x), y);
  l.backward();
  std::vector<Tensor> analytic;
  for (const auto& [name, p] : params) analytic.push_back(p.grad().defined() ? p.grad().clone() : zeros_like(p));
  const Tensor input_grad = opt.check_input && x.grad().defined() ? x.grad().clone() : zeros_like(x);
  module.zero_grad();

  NoGradGuard no_grad;
  const Tensor x0 = x.detach();
  // Inputs of each child, so a perturbation in child i re-runs children i.. only.
  std::vector<Tensor> inputs;
  if (seq) {
    reset_masks();
    inputs.push_back(x0);
    for (size_t i = 0; i + 1 < seq->size(); ++i) inputs.push_back(seq->at(i)->forward(inputs.back()));
  }
  auto evaluate = [&](int64_t from, const Tensor& xin) {
    reset_masks();
    if (!seq || from < 0) return loss(module(xin), y).item();
    Tensor h = from == 0 ? xin : inputs[static_cast<size_t>(from)];
    for (size_t i = static_cast<size_t>(from); i < seq->size(); ++i) h = seq->at(i)->forward(h);
    return loss(h, y).item();
  };
  const double l0 = evaluate(-1, x0);
  if (evaluate(-1, x0) != l0)
    throw Error(fmt::format("gradcheck: {} gives a different loss for the same input; the check needs a "
                            "deterministic forward", module.type_name()));

  ModuleGradcheckResult res;
  res.loss = l0;
  Generator gen(opt.seed);
  auto check = [&](TensorCheck& row, Tensor& t, const Tensor& grad, int64_t from) {
    double* p = t.data<double>();
    const double* a = grad.data<double>();
    Tensor xin = x0;
    for (int64_t k : sample_indices(t.numel(), opt.samples, gen)) {
      const double saved = p[k];
      p[k] = saved + opt.eps;
      const double lp = evaluate(from, xin);
      p[k] = saved - opt.eps;
      const double lm = evaluate(from, xin);
      p[k] = saved;
      double numeric = (lp - lm) / (2.0 * opt.eps);
      double err = std::abs(a[k] - numeric);
      double tol = opt.atol + opt.rtol * std::abs(numeric);
      if (!(err <= tol) && std::abs((lp - l0) - (l0 - lm)) / opt.eps > tol) {
        // The one-sided slopes disagree: a kink within eps of the point, or curvature. Look again
        // at a 10x smaller step: curvature's disagreement shrinks 10x and a kink near the point
        // leaves the interval, so the smaller central difference is the reference; a kink at the
        // point itself (an exact zero, a max-pool tie, several of them at once) stays, and there
        // is no derivative to compare with.
        const double e2 = opt.eps / 10;
        p[k] = saved + e2;
        const double lp2 = evaluate(from, xin);
        p[k] = saved - e2;
        const double lm2 = evaluate(from, xin);
        p[k] = saved;
        numeric = (lp2 - lm2) / (2.0 * e2);
        tol = opt.atol + opt.rtol * std::abs(numeric);
        if (std::abs((lp2 - l0) - (l0 - lm2)) / e2 > tol) {
          ++row.skipped_kinks;
          continue;
        }
        err = std::abs(a[k] - numeric);
      }
      if (!(err <= tol)) {
        if (row.failed++ == 0) row.worst_index = k, row.worst_numeric = numeric, row.worst_analytic = a[k];
      }
      ++row.checked;
      row.max_abs_err = std::max(row.max_abs_err, err);
      const double scale = std::max(std::abs(a[k]), std::abs(numeric));
      if (scale > opt.atol) row.max_rel_err = std::max(row.max_rel_err, err / scale);
    }
    row.pass = row.failed == 0;
    res.ok = res.ok && row.pass;
  };

  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    const Owner owner = owner_of(module, name);
    TensorCheck row{.name = name, .layer = owner.label, .shape = p.shape()};
    Tensor handle = p;
    check(row, handle, analytic[i], seq ? owner.index : -1);
    res.tensors.push_back(row);
  }
  if (opt.check_input) {
    TensorCheck row{.name = "input", .layer = "input", .shape = x0.shape()};
    // The input is perturbed in place in x0, which the child-0 path reads directly.
    Tensor handle = x0;
    check(row, handle, input_grad, 0);
    res.tensors.push_back(row);
  }
  for (auto& [live, saved] : buffers) live.copy_(saved);
  reset_masks();
  return res;
}

std::string gradcheck_table(const ModuleGradcheckResult& r) {
  size_t wn = 6, wl = 5;
  for (const TensorCheck& t : r.tensors) wn = std::max(wn, t.name.size()), wl = std::max(wl, t.layer.size());
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<14} {:>8} {:>6} {:>12} {:>12}  {}\n", "tensor", wn, "layer", wl,
                                "shape", "checked", "kinks", "max abs err", "max rel err", "result");
  for (const TensorCheck& t : r.tensors)
    out += fmt::format("{:<{}}  {:<{}}  {:<14} {:>8} {:>6} {:>12.3e} {:>12.3e}  {}\n", t.name, wn, t.layer, wl,
                       shape_str(t.shape), t.checked, t.skipped_kinks, t.max_abs_err, t.max_rel_err,
                       t.pass ? "PASS" : "FAIL");
  return out;
}

}  // namespace descent::diag

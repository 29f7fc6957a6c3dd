// Losses by name. To add one: a class below and a branch in make_loss.
#include "descent/loss.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>

#include "tensor/dispatch.h"

namespace descent::loss {

Tensor one_hot(const Tensor& labels, int64_t c, DType dtype) {
  if (labels.dtype() != DType::I64 || labels.dim() != 1)
    throw Error(fmt::format("one_hot: labels must be int64 [N], got {} {}", dtype_name(labels.dtype()), labels.shape_str()));
  const int64_t n = labels.size(0);
  Tensor out = zeros({n, c}, dtype);
  const int64_t* l = labels.data<int64_t>();
  dispatch_float(dtype, "one_hot", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      if (l[i] < 0 || l[i] >= c) throw Error(fmt::format("one_hot: label {} at index {} outside {} classes", l[i], i, c));
      p[i * c + l[i]] = T(1);
    }
  });
  return out;
}

namespace {

// A list of numbers from the config as a float64 [K] tensor (weights, pos_weight).
Tensor vector_arg(const Args& a, const std::string& key) {
  auto v = a.get_doubles(key);
  return from_vector(v, {static_cast<int64_t>(v.size())}, DType::F64);
}

ops::Reduction parse_reduction(const Args& a) {
  std::string r = a.get_string("reduction", "mean");
  if (r == "mean") return ops::Reduction::Mean;
  if (r == "sum") return ops::Reduction::Sum;
  throw Error(fmt::format("{}: reduction must be \"mean\" or \"sum\", got '{}'", a.where(), r));
}

class CrossEntropy : public Loss {
 public:
  explicit CrossEntropy(ops::CrossEntropyOptions o) : opt_(std::move(o)) {}
  Tensor operator()(const Tensor& out, const Tensor& target) const override {
    return ops::cross_entropy(out, target, opt_);
  }
  std::string name() const override { return "cross_entropy"; }

 private:
  ops::CrossEntropyOptions opt_;
};

class Nll : public Loss {
 public:
  explicit Nll(ops::Reduction r) : r_(r) {}
  Tensor operator()(const Tensor& out, const Tensor& target) const override { return ops::nll_loss(out, target, r_); }
  std::string name() const override { return "nll"; }

 private:
  ops::Reduction r_;
};

class Mse : public Loss {
 public:
  explicit Mse(ops::Reduction r) : r_(r) {}
  Tensor operator()(const Tensor& out, const Tensor& target) const override {
    if (target.dtype() == DType::I64 && out.dim() == 2 && target.dim() == 1)
      return ops::mse_loss(out, one_hot(target, out.size(1), out.dtype()), r_);
    if (target.shape() != out.shape())
      throw Error(fmt::format("mse: output {} and target {} differ in shape", out.shape_str(), target.shape_str()));
    return ops::mse_loss(out, target.to(out.dtype()), r_);
  }
  std::string name() const override { return "mse"; }
  bool classification() const override { return false; }

 private:
  ops::Reduction r_;
};

// Float targets of the output's shape; integer labels [N] against [N, C] become one-hot rows.
Tensor float_target(const Tensor& out, const Tensor& target, const char* what) {
  if (target.dtype() == DType::I64 && out.dim() == 2 && target.dim() == 1 && out.size(1) > 1)
    return one_hot(target, out.size(1), out.dtype());
  if (target.numel() == out.numel() && (target.shape() == out.shape() || target.dim() == 1))
    return target.to(out.dtype()).reshape(out.shape());  // also labels [N] against an output [N, 1]
  throw Error(fmt::format("{}: output {} and target {} differ in shape", what, out.shape_str(), target.shape_str()));
}

// An elementwise loss on (output, float target): l1, huber, smooth_l1.
class Elementwise : public Loss {
 public:
  using Fn = std::function<Tensor(const Tensor&, const Tensor&)>;
  Elementwise(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  Tensor operator()(const Tensor& out, const Tensor& target) const override {
    return fn_(out, float_target(out, target, name_.c_str()));
  }
  std::string name() const override { return name_; }
  bool classification() const override { return false; }

 private:
  std::string name_;
  Fn fn_;
};

class BceWithLogits : public Loss {
 public:
  explicit BceWithLogits(ops::BceWithLogitsOptions o) : opt_(std::move(o)) {}
  Tensor operator()(const Tensor& out, const Tensor& target) const override {
    return ops::binary_cross_entropy_with_logits(out, float_target(out, target, "bce_with_logits"), opt_);
  }
  std::string name() const override { return "bce_with_logits"; }
  // Multi-label outputs have no single arg-max label; a [N, 1] output has only one column.
  bool classification() const override { return false; }

 private:
  ops::BceWithLogitsOptions opt_;
};

}  // namespace

std::unique_ptr<Loss> make_loss(const Args& a) {
  std::string type = a.get_string("type", "cross_entropy");
  std::unique_ptr<Loss> loss;
  if (type == "cross_entropy") {
    ops::CrossEntropyOptions o;
    o.reduction = parse_reduction(a);
    o.label_smoothing = a.get_double("label_smoothing", 0.0);
    if (o.label_smoothing < 0 || o.label_smoothing >= 1)
      throw Error(fmt::format("{}: label_smoothing must be in [0, 1), got {}", a.where(), o.label_smoothing));
    if (a.has("weight")) {
      auto w = a.get_doubles("weight");
      o.weight = from_vector(w, {static_cast<int64_t>(w.size())}, DType::F64);
    }
    loss = std::make_unique<CrossEntropy>(o);
  } else if (type == "mse") {
    loss = std::make_unique<Mse>(parse_reduction(a));
  } else if (type == "nll") {
    loss = std::make_unique<Nll>(parse_reduction(a));
  } else if (type == "bce_with_logits") {
    ops::BceWithLogitsOptions o{.reduction = parse_reduction(a)};
    if (a.has("weight")) o.weight = vector_arg(a, "weight");
    if (a.has("pos_weight")) o.pos_weight = vector_arg(a, "pos_weight");
    loss = std::make_unique<BceWithLogits>(o);
  } else if (type == "l1") {
    loss = std::make_unique<Elementwise>("l1", [r = parse_reduction(a)](const Tensor& o, const Tensor& t) {
      return ops::l1_loss(o, t, r);
    });
  } else if (type == "huber") {
    const double delta = a.get_double("delta", 1.0);
    if (!(delta > 0)) throw Error(fmt::format("{}: delta must be positive, got {}", a.where(), delta));
    loss = std::make_unique<Elementwise>("huber", [r = parse_reduction(a), delta](const Tensor& o, const Tensor& t) {
      return ops::huber_loss(o, t, r, delta);
    });
  } else if (type == "smooth_l1") {
    const double beta = a.get_double("beta", 1.0);
    if (!(beta >= 0)) throw Error(fmt::format("{}: beta must be >= 0, got {}", a.where(), beta));
    loss = std::make_unique<Elementwise>("smooth_l1", [r = parse_reduction(a), beta](const Tensor& o, const Tensor& t) {
      return ops::smooth_l1_loss(o, t, r, beta);
    });
  } else {
    static const std::vector<std::string> kKnown = {"cross_entropy", "mse", "nll", "bce_with_logits", "l1", "huber", "smooth_l1"};
    std::string hint = closest_match(type, kKnown);
    throw Error(fmt::format("{}: unknown loss type '{}'{}", a.where(), type,
                            hint.empty() ? fmt::format(" (known: {})", fmt::join(kKnown, ", "))
                                         : fmt::format(" (did you mean '{}'?)", hint)));
  }
  a.finish();
  return loss;
}

}  // namespace descent::loss

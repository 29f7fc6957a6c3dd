// Losses by name. To add one: a class below and a branch in make_loss.
#include "descent/loss.h"

#include <fmt/format.h>

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
  } else {
    std::string hint = closest_match(type, {"cross_entropy", "mse", "nll"});
    throw Error(fmt::format("{}: unknown loss type '{}'{}", a.where(), type,
                            hint.empty() ? " (known: cross_entropy, mse, nll)" : fmt::format(" (did you mean '{}'?)", hint)));
  }
  a.finish();
  return loss;
}

}  // namespace descent::loss

#include <fmt/format.h>

#include <array>
#include <typeinfo>

#include "descent/nn.h"

namespace descent::nn {

void Module::register_parameter(const std::string& name, Tensor* field) { params_.emplace_back(name, field); }
void Module::register_buffer(const std::string& name, Tensor* field) { buffers_.emplace_back(name, field); }
void Module::register_module(const std::string& name, std::shared_ptr<Module> child) {
  if (!child) throw Error(fmt::format("register_module: '{}' is null", name));
  child->train(training_);
  children_.emplace_back(name, std::move(child));
}

void Module::collect(const std::string& prefix, NamedTensors& out, bool params, bool buffers) const {
  // PyTorch's state_dict order: own parameters, own buffers, then children in order.
  if (params)
    for (const auto& [name, field] : params_)
      if (field->defined()) out.emplace_back(prefix + name, *field);
  if (buffers)
    for (const auto& [name, field] : buffers_)
      if (field->defined()) out.emplace_back(prefix + name, *field);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, params, buffers);
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out, true, false);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", out, false, true);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", out, true, true);
  return out;
}

void Module::train(bool on) {
  training_ = on;
  on_mode_change(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& t : parameters()) t.set_grad(Tensor());
}

void Module::to(DType dtype) {
  for (auto& [n, field] : params_)
    if (field->defined() && field->dtype() != dtype) *field = field->detach().to(dtype).requires_grad_();
  for (auto& [n, field] : buffers_)
    if (field->defined() && is_floating(field->dtype()) && field->dtype() != dtype) *field = field->to(dtype);
  for (auto& [n, c] : children_) c->to(dtype);
}

// ---- Sequential / Flatten ---------------------------------------------------------------------
void Sequential::push_back(std::shared_ptr<Module> m) { register_module(std::to_string(size()), std::move(m)); }

namespace {
// The pool conv2d_pool_relu fuses: 2x2, stride 2, no padding, no dilation, floor mode.
bool is_plain_2x2(const ops::Pool2dOptions& o) {
  auto all = [](std::array<int64_t, 2> v, int64_t want) { return v[0] == want && v[1] == want; };
  return all(o.kernel_size, 2) && (all(o.stride, 0) || all(o.stride, 2)) && all(o.padding, 0) &&
         all(o.dilation, 1) && !o.ceil_mode;
}
}  // namespace

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& kids = children();
  auto is = [&](size_t j, const std::type_info& t) { return j < kids.size() && typeid(*kids[j].second) == t; };
  for (size_t i = 0; i < kids.size(); ++i) {
    const Module& m = *kids[i].second;
    // Fusions, unless an observer wants to see each layer's own output:
    //  - Linear or Conv2d followed by a ReLU runs as one op (the ReLU in the GEMM's or the
    //    convolution's epilogue);
    //  - a ReLU followed by a MaxPool2d runs as max_pool2d_relu (the max commutes with the ReLU,
    //    so it is applied to the 4x smaller pooled output and its backward needs no pass of its
    //    own), also when a Conv2d comes first: Conv2d -> ReLU -> MaxPool2d is conv2d, then
    //    max_pool2d_relu, or all three as conv2d_pool_relu for a 2x2 / stride 2 pool (pooled in
    //    the convolution's blocked layout). Every fusion gives the same values and gradients as
    //    the layers one by one.
    if (!observer_ && is(i + 1, typeid(ReLU))) {
      const bool pool_next = is(i + 2, typeid(MaxPool2d)) && h.dim() == 4;
      if (typeid(m) == typeid(Linear)) {
        const auto& lin = static_cast<const Linear&>(m);
        if (h.dim() == 2 && h.size(1) == lin.in_features()) {
          h = ops::linear_relu(h, lin.weight, lin.bias);
          ++i;
          continue;
        }
      } else if (typeid(m) == typeid(Conv2d)) {
        const auto& conv = static_cast<const Conv2d&>(m);
        if (h.dim() == 4 && h.size(1) == conv.in_channels()) {
          const Conv2dOptions& o = conv.options();
          const ops::Conv2dOptions co{.stride = o.stride, .padding = o.padding, .dilation = o.dilation, .groups = o.groups};
          if (pool_next) {
            const ops::Pool2dOptions& po = static_cast<const MaxPool2d&>(*kids[i + 2].second).options();
            if (is_plain_2x2(po)) {
              h = ops::conv2d_pool_relu(h, conv.weight, conv.bias, co);
            } else {
              h = ops::conv2d(h, conv.weight, conv.bias, co);
              h = ops::max_pool2d_relu(h, po);
            }
            i += 2;
          } else {
            h = ops::conv2d_relu(h, conv.weight, conv.bias, co);
            ++i;
          }
          continue;
        }
      }
    }
    if (!observer_ && typeid(m) == typeid(ReLU) && is(i + 1, typeid(MaxPool2d)) && h.dim() == 4) {
      h = ops::max_pool2d_relu(h, static_cast<const MaxPool2d&>(*kids[i + 1].second).options());
      ++i;
      continue;
    }
    h = kids[i].second->forward(h);
    if (observer_) observer_(i, h);
  }
  return h;
}

Shape Sequential::output_shape(const Shape& input) const {
  Shape s = input;
  for (const auto& [name, m] : children()) {
    try {
      s = m->output_shape(s);
    } catch (const Error& e) {
      throw Error(fmt::format("layer {} ({}): {}", name, m->describe(), e.what()));
    }
  }
  return s;
}

Shape Flatten::output_shape(const Shape& input) const { return {shape_numel(input)}; }

}  // namespace descent::nn

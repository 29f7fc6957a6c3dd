// ONNX export through the protobuf classes of Debian's libonnx-dev (onnx/onnx_pb.h), checked with
// libonnx's own checker before the file is written. Built only when CMake found libonnx-dev
// (DESCENT_WITH_ONNX); otherwise export_onnx says how to get it.
//
// The graph is the model in eval mode, one node (or two) per layer, float32 throughout:
//   Linear → Gemm(transB=1)            Conv2d → Conv                 BatchNorm1d/2d → BatchNormalization
//   MaxPool2d → MaxPool                AvgPool2d → AveragePool       GlobalAvgPool2d → GlobalAveragePool, Flatten
//   AdaptiveAvgPool2d → AveragePool (output dividing the input) or GlobalAveragePool (1x1)
//   ReLU/Sigmoid/Tanh/LeakyReLU/ELU/SELU/Softmax/LogSoftmax/Flatten → the op of the same name
//   Dropout, Dropout2d, Identity → nothing (identity in eval mode)
// A run's standardization (OnnxOptions::input_shift/input_scale) becomes Sub + Div nodes in front,
// so the exported model takes the raw features, as the data file holds them.
// Initializers keep the state_dict names ("0.weight"), so the ONNX file reads like the torch model.
#include <fmt/format.h>

#include "descent/io.h"

#ifdef DESCENT_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif

#ifndef DESCENT_VERSION
#define DESCENT_VERSION "0.0.0"
#endif

namespace descent::io {

#ifndef DESCENT_WITH_ONNX

bool onnx_available() { return false; }

void export_onnx(const nn::Sequential&, const Shape&, const std::string& path, const OnnxOptions&) {
  throw Error(fmt::format("{}: this descent was built without ONNX support (install libonnx-dev, e.g. with "
                          "scripts/install-deps.sh, and rebuild)", path));
}

#else

bool onnx_available() { return true; }

namespace {

using Ints = std::vector<int64_t>;

// Builds the graph layer by layer; `cur` is the name of the value flowing between layers.
class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto& g, std::string input) : g_(g), cur_(std::move(input)) {}

  const std::string& current() const { return cur_; }

  // A node reading `inputs` (the current value first unless given) and producing a fresh value.
  onnx::NodeProto& node(const std::string& op, const std::string& prefix, std::vector<std::string> extra_inputs = {}) {
    onnx::NodeProto* n = g_.add_node();
    n->set_op_type(op);
    n->set_name(fmt::format("{}/{}", prefix, op));
    n->add_input(cur_);
    for (auto& in : extra_inputs) n->add_input(in);
    cur_ = fmt::format("{}/{}_output", prefix, op);
    n->add_output(cur_);
    return *n;
  }

  // Adds a float32 initializer holding t (converted) under `name`; returns the name.
  std::string initializer(const std::string& name, const Tensor& t) {
    Tensor f = t.dtype() == DType::F32 ? t : t.to(DType::F32);
    onnx::TensorProto* p = g_.add_initializer();
    p->set_name(name);
    p->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : f.shape()) p->add_dims(d);
    p->set_raw_data(f.raw_data(), static_cast<size_t>(f.numel()) * sizeof(float));  // little-endian, as ONNX wants
    return name;
  }

 private:
  onnx::GraphProto& g_;
  std::string cur_;
};

void attr(onnx::NodeProto& n, const std::string& name, const Ints& v) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr_f(onnx::NodeProto& n, const std::string& name, double v) {
  onnx::AttributeProto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(static_cast<float>(v));
}

void value_info(onnx::ValueInfoProto* vi, const std::string& name, const Shape& per_sample) {
  vi->set_name(name);
  onnx::TypeProto_Tensor* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = tt->mutable_shape();
  s->add_dim()->set_dim_param("N");
  for (int64_t d : per_sample) s->add_dim()->set_dim_value(d);
}

void pool_attrs(onnx::NodeProto& n, const ops::Pool2dOptions& o, bool max_pool) {
  const auto& k = o.kernel_size;
  attr(n, "kernel_shape", Ints{k[0], k[1]});
  attr(n, "strides", Ints{o.stride[0] ? o.stride[0] : k[0], o.stride[1] ? o.stride[1] : k[1]});
  attr(n, "pads", Ints{o.padding[0], o.padding[1], o.padding[0], o.padding[1]});
  if (o.ceil_mode) attr(n, "ceil_mode", int64_t{1});
  if (max_pool && (o.dilation[0] != 1 || o.dilation[1] != 1)) attr(n, "dilations", Ints{o.dilation[0], o.dilation[1]});
  // torch divides by the padded window by default, ONNX by default does not.
  if (!max_pool && (o.padding[0] || o.padding[1])) attr(n, "count_include_pad", int64_t{o.count_include_pad ? 1 : 0});
}

// Appends the nodes of layer `i`; throws naming the layer when there is no mapping.
void add_layer(GraphBuilder& b, const nn::Module& m, const std::string& i, const Shape& in_shape) {
  const std::string type = m.type_name();
  const std::string p = "/" + i;
  auto w = [&](const std::string& field, const Tensor& t) { return b.initializer(i + "." + field, t); };
  if (auto* l = dynamic_cast<const nn::Linear*>(&m)) {
    std::vector<std::string> ins{w("weight", l->weight)};
    if (l->bias.defined()) ins.push_back(w("bias", l->bias));
    attr(b.node("Gemm", p, ins), "transB", int64_t{1});
  } else if (auto* c = dynamic_cast<const nn::Conv2d*>(&m)) {
    std::vector<std::string> ins{w("weight", c->weight)};
    if (c->bias.defined()) ins.push_back(w("bias", c->bias));
    onnx::NodeProto& n = b.node("Conv", p, ins);
    const auto& o = c->options();
    const auto k = c->kernel_size();
    attr(n, "kernel_shape", Ints{k[0], k[1]});
    attr(n, "strides", Ints{o.stride[0], o.stride[1]});
    attr(n, "pads", Ints{o.padding[0], o.padding[1], o.padding[0], o.padding[1]});
    attr(n, "dilations", Ints{o.dilation[0], o.dilation[1]});
    attr(n, "group", o.groups);
  } else if (auto* bn = dynamic_cast<const nn::BatchNorm*>(&m)) {
    const auto& o = bn->options();
    if (!o.track_running_stats || !bn->running_mean.defined())
      throw Error(fmt::format("layer {} ({}): without running statistics eval mode normalizes by the batch, which ONNX's "
                              "BatchNormalization cannot express", i, type));
    const int64_t c = bn->num_features();
    Tensor scale = o.affine ? bn->weight : ones({c}), shift = o.affine ? bn->bias : zeros({c});
    onnx::NodeProto& n = b.node("BatchNormalization", p,
                                {w(o.affine ? "weight" : "onnx_scale", scale), w(o.affine ? "bias" : "onnx_shift", shift),
                                 w("running_mean", bn->running_mean), w("running_var", bn->running_var)});
    attr_f(n, "epsilon", o.eps);
  } else if (auto* mp = dynamic_cast<const nn::MaxPool2d*>(&m)) {
    pool_attrs(b.node("MaxPool", p), mp->options(), true);
  } else if (auto* ap = dynamic_cast<const nn::AvgPool2d*>(&m)) {
    pool_attrs(b.node("AveragePool", p), ap->options(), false);
  } else if (dynamic_cast<const nn::GlobalAvgPool2d*>(&m)) {
    b.node("GlobalAveragePool", p);
    attr(b.node("Flatten", p), "axis", int64_t{1});
  } else if (auto* ad = dynamic_cast<const nn::AdaptiveAvgPool2d*>(&m)) {
    const auto s = ad->output_size();
    if (s[0] == 1 && s[1] == 1) {
      b.node("GlobalAveragePool", p);
    } else {  // the output divides the input (the layer checks it): equal windows
      const Ints k{in_shape.at(1) / s[0], in_shape.at(2) / s[1]};
      onnx::NodeProto& n = b.node("AveragePool", p);
      attr(n, "kernel_shape", k);
      attr(n, "strides", k);
    }
  } else if (dynamic_cast<const nn::Flatten*>(&m)) {
    attr(b.node("Flatten", p), "axis", int64_t{1});
  } else if (type == "ReLU") {
    b.node("Relu", p);
  } else if (type == "Sigmoid") {
    b.node("Sigmoid", p);
  } else if (type == "Tanh") {
    b.node("Tanh", p);
  } else if (auto* lr = dynamic_cast<const nn::LeakyReLU*>(&m)) {
    attr_f(b.node("LeakyRelu", p), "alpha", lr->negative_slope());
  } else if (auto* elu = dynamic_cast<const nn::ELU*>(&m)) {
    attr_f(b.node("Elu", p), "alpha", elu->alpha());
  } else if (type == "SELU") {
    onnx::NodeProto& n = b.node("Selu", p);  // torch's constants, to float precision
    attr_f(n, "alpha", 1.6732632423543772848170429916717);
    attr_f(n, "gamma", 1.0507009873554804934193349852946);
  } else if (auto* sm = dynamic_cast<const nn::Softmax*>(&m)) {
    attr(b.node("Softmax", p), "axis", sm->dim());
  } else if (auto* lsm = dynamic_cast<const nn::LogSoftmax*>(&m)) {
    attr(b.node("LogSoftmax", p), "axis", lsm->dim());
  } else if (type == "Dropout" || type == "Dropout2d" || type == "Identity") {
    // identity in eval mode: no node
  } else {
    throw Error(fmt::format("layer {} ({}) has no ONNX mapping in descent; supported: Linear, Conv2d, BatchNorm1d/2d, "
                            "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, GlobalAvgPool2d, Flatten, Dropout, Identity, "
                            "ReLU, LeakyReLU, ELU, SELU, Sigmoid, Tanh, Softmax, LogSoftmax", i, m.describe()));
  }
}

}  // namespace

void export_onnx(const nn::Sequential& model, const Shape& input_shape, const std::string& path, const OnnxOptions& options) {
  if (options.opset < 13) throw Error(fmt::format("{}: ONNX opset must be 13 or later, got {}", path, options.opset));
  onnx::ModelProto mp;
  mp.set_ir_version(options.opset <= 13 ? 7 : 8);  // the IR version released with the opset: older runtimes read it
  mp.set_producer_name("descent");
  mp.set_producer_version(DESCENT_VERSION);
  onnx::OperatorSetIdProto* op = mp.add_opset_import();
  op->set_domain("");
  op->set_version(options.opset);
  onnx::GraphProto& g = *mp.mutable_graph();
  g.set_name(options.graph_name);
  value_info(g.add_input(), "input", input_shape);

  GraphBuilder b(g, "input");
  if (!options.input_shift.empty() || !options.input_scale.empty()) {
    // The run's standardization, (x - shift) / scale per input element: the model takes raw features.
    const auto n = static_cast<size_t>(shape_numel(input_shape));
    if (options.input_shift.size() != n || options.input_scale.size() != n)
      throw Error(fmt::format("{}: standardization of {} shift and {} scale values for inputs of shape {} ({} values)",
                              path, options.input_shift.size(), options.input_scale.size(), shape_str(input_shape), n));
    Tensor shift = zeros(input_shape), scale = zeros(input_shape);
    for (size_t i = 0; i < n; ++i) {
      shift.data<float>()[i] = static_cast<float>(options.input_shift[i]);
      scale.data<float>()[i] = static_cast<float>(options.input_scale[i]);
    }
    b.node("Sub", "/standardize", {b.initializer("standardize.shift", shift)});
    b.node("Div", "/standardize", {b.initializer("standardize.scale", scale)});
  }
  Shape shape = input_shape;
  for (const auto& [name, layer] : model.children()) {
    try {
      add_layer(b, *layer, name, shape);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: cannot export: {}", path, e.what()));
    }
    shape = layer->output_shape(shape);
  }
  // Name the result "output": rename the last node's output, or add an Identity when no node ran.
  if (g.node_size() == 0 || b.current() == "input") {
    b.node("Identity", "/output");
  }
  onnx::NodeProto* last = g.mutable_node(g.node_size() - 1);
  last->set_output(0, "output");
  value_info(g.add_output(), "output", shape);
  try {
    onnx::checker::check_model(mp);
  } catch (const std::exception& e) {
    // Our own graph failed ONNX's checker: a bug in descent, not bad input (exit code 1).
    throw std::runtime_error(fmt::format("{}: the exported graph fails the ONNX checker: {}", path, e.what()));
  }
  std::string bytes;
  if (!mp.SerializeToString(&bytes)) throw std::runtime_error(fmt::format("{}: ONNX serialization failed", path));
  write_file_atomic(path, bytes);
}

#endif  // DESCENT_WITH_ONNX

}  // namespace descent::io

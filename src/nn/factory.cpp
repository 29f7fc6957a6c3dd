// Layers from config tables. Each entry takes the keys it knows (named as in torch.nn) from the
// Args; Args::finish() then rejects leftovers. To add a layer type: add a row to kFactories.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <sstream>
#include <variant>

#include "descent/init.h"
#include "descent/nn.h"

namespace descent::nn {
namespace {

struct BuildContext {
  const Shape& in;
  DType dtype;
  Generator& gen;
};

using Factory = std::function<std::shared_ptr<Module>(const Args&, BuildContext&)>;

int64_t features_of(const Shape& in, const std::string& type) {
  if (in.size() != 1)
    throw Error(fmt::format("{} needs a flat input, gets per-sample shape {} (add {{ type = \"flatten\" }} before it)", type,
                            shape_str(in)));
  return in[0];
}

// An int or a [h, w] pair (torch accepts both for kernel_size, stride, padding, dilation).
std::array<int64_t, 2> pair_arg(const Args& a, const std::string& key, std::array<int64_t, 2> def) {
  a.touch(key);  // known to this layer even when absent: a typo of it gets a "did you mean"
  if (!a.has(key)) return def;
  std::vector<int64_t> v = a.get_ints(key);
  if (v.size() == 1) return {v[0], v[0]};
  if (v.size() == 2) return {v[0], v[1]};
  throw Error(fmt::format("{} must be an integer or a list of two, got {} values", key, v.size()));
}

// Per-sample [C, H, W] of a 2-d layer's input.
const Shape& chw_of(const Shape& in, const std::string& type) {
  if (in.size() != 3)
    throw Error(fmt::format("{} needs a per-sample input [C, H, W], gets {} (set [model] input_shape = [C, H, W], e.g. "
                            "[1, 28, 28], and put flatten only after the convolutional layers)", type, shape_str(in)));
  return in;
}

// Checks an optional "in_channels"/"num_features" key against the inferred value.
void check_inferred(const Args& a, const std::string& key, int64_t inferred) {
  a.touch(key);
  if (a.has(key) && a.get_int(key) != inferred)
    throw Error(fmt::format("{} = {} but the previous layer gives {}", key, a.get_int(key), inferred));
}

// conv2d padding: an int, a pair, or torch's "valid" / "same" (stride 1; needs an even total padding).
std::array<int64_t, 2> conv_padding(const Args& a, std::array<int64_t, 2> k, std::array<int64_t, 2> dil,
                                    std::array<int64_t, 2> stride) {
  a.touch("padding");
  auto it = a.values().find("padding");
  if (it == a.values().end() || !std::holds_alternative<std::string>(it->second)) return pair_arg(a, "padding", {0, 0});
  std::string mode = a.get_string("padding");
  if (mode == "valid") return {0, 0};
  if (mode != "same") throw Error(fmt::format("padding must be an integer, [h, w], \"valid\" or \"same\", got '{}'", mode));
  std::array<int64_t, 2> p{};
  for (int i = 0; i < 2; ++i) {
    const int64_t total = dil[i] * (k[i] - 1);
    if (stride[i] != 1) throw Error("padding = \"same\" needs stride 1 (as in torch)");
    if (total % 2 != 0)
      throw Error(fmt::format("padding = \"same\" with kernel {} and dilation {} needs uneven padding, which is not "
                              "supported; give padding explicitly", k[i], dil[i]));
    p[i] = total / 2;
  }
  return p;
}

ops::Pool2dOptions pool_options(const Args& a, bool max_pool) {
  ops::Pool2dOptions o;
  o.kernel_size = pair_arg(a, "kernel_size", {0, 0});
  if (!a.has("kernel_size")) throw Error("missing key 'kernel_size'");
  o.stride = pair_arg(a, "stride", o.kernel_size);
  o.padding = pair_arg(a, "padding", {0, 0});
  o.ceil_mode = a.get_bool("ceil_mode", false);
  if (max_pool) o.dilation = pair_arg(a, "dilation", {1, 1});
  else o.count_include_pad = a.get_bool("count_include_pad", true);
  return o;
}

BatchNormOptions bn_options(const Args& a, DType dtype) {
  // momentum = "none" is torch's momentum=None (TOML has no null): a cumulative average.
  bool cumulative = false;
  double momentum = 0.1;
  if (a.has("momentum") && std::holds_alternative<std::string>(a.values().at("momentum"))) {
    const std::string m = a.get_string("momentum");
    if (m != "none") throw Error(fmt::format("momentum must be a number in [0, 1] or \"none\", got \"{}\"", m));
    cumulative = true;
  } else {
    momentum = a.get_double("momentum", 0.1);
  }
  return {.eps = a.get_double("eps", 1e-5), .momentum = momentum, .cumulative = cumulative,
          .affine = a.get_bool("affine", true), .track_running_stats = a.get_bool("track_running_stats", true),
          .dtype = dtype};
}

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> kFactories = {
      {"linear",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         int64_t in = features_of(c.in, "linear");
         if (a.has("in_features") && a.get_int("in_features") != in)
           throw Error(fmt::format("in_features = {} but the previous layer gives {}", a.get_int("in_features"), in));
         int64_t out = a.get_int("out_features");
         return std::make_shared<Linear>(in, out,
                                         LinearOptions{.bias = a.get_bool("bias", true), .dtype = c.dtype, .seed = c.gen.next_u64()});
       }},
      {"conv2d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         const int64_t in = chw_of(c.in, "conv2d")[0];
         check_inferred(a, "in_channels", in);
         const int64_t out = a.get_int("out_channels");
         if (!a.has("kernel_size")) throw Error("missing key 'kernel_size'");
         Conv2dOptions o{.stride = pair_arg(a, "stride", {1, 1}), .dilation = pair_arg(a, "dilation", {1, 1}),
                         .groups = a.get_int("groups", 1), .bias = a.get_bool("bias", true), .dtype = c.dtype,
                         .seed = c.gen.next_u64()};
         const auto k = pair_arg(a, "kernel_size", {1, 1});
         o.padding = conv_padding(a, k, o.dilation, o.stride);
         if (a.get_string("padding_mode", "zeros") != "zeros") throw Error("only padding_mode = \"zeros\" is supported");
         return std::make_shared<Conv2d>(in, out, k, o);
       }},
      {"max_pool2d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         chw_of(c.in, "max_pool2d");
         return std::make_shared<MaxPool2d>(pool_options(a, true));
       }},
      {"avg_pool2d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         chw_of(c.in, "avg_pool2d");
         return std::make_shared<AvgPool2d>(pool_options(a, false));
       }},
      {"adaptive_avg_pool2d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         chw_of(c.in, "adaptive_avg_pool2d");
         if (!a.has("output_size")) throw Error("missing key 'output_size'");
         return std::make_shared<AdaptiveAvgPool2d>(pair_arg(a, "output_size", {1, 1}));
       }},
      {"global_avg_pool",
       [](const Args&, BuildContext& c) -> std::shared_ptr<Module> {
         chw_of(c.in, "global_avg_pool");
         return std::make_shared<GlobalAvgPool2d>();
       }},
      {"batch_norm1d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         if (c.in.size() != 1 && c.in.size() != 2)
           throw Error(fmt::format("batch_norm1d needs a per-sample input [F] or [C, L], gets {} (use batch_norm2d after "
                                   "conv2d)", shape_str(c.in)));
         check_inferred(a, "num_features", c.in[0]);
         return std::make_shared<BatchNorm1d>(c.in[0], bn_options(a, c.dtype));
       }},
      {"batch_norm2d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         const int64_t ch = chw_of(c.in, "batch_norm2d")[0];
         check_inferred(a, "num_features", ch);
         return std::make_shared<BatchNorm2d>(ch, bn_options(a, c.dtype));
       }},
      {"layer_norm",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         if (c.in.empty()) throw Error("layer_norm needs a non-scalar per-sample input");
         std::vector<int64_t> shape = a.get_ints("normalized_shape", std::vector<int64_t>{c.in.back()});
         return std::make_shared<LayerNorm>(shape, LayerNormOptions{.eps = a.get_double("eps", 1e-5),
                                                                    .elementwise_affine = a.get_bool("elementwise_affine", true),
                                                                    .bias = a.get_bool("bias", true), .dtype = c.dtype});
       }},
      {"dropout",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         // The mask generator is seeded from the build generator: the run's seed fixes every mask.
         return std::make_shared<Dropout>(a.get_double("p", 0.5), c.gen.next_u64());
       }},
      {"dropout2d",
       [](const Args& a, BuildContext& c) -> std::shared_ptr<Module> {
         chw_of(c.in, "dropout2d");
         return std::make_shared<Dropout2d>(a.get_double("p", 0.5), c.gen.next_u64());
       }},
      {"flatten", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<Flatten>(); }},
      {"identity", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<Identity>(); }},
      {"relu", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<ReLU>(); }},
      {"sigmoid", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<Sigmoid>(); }},
      {"tanh", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<Tanh>(); }},
      {"gelu", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<GELU>(); }},
      {"selu", [](const Args&, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<SELU>(); }},
      {"leaky_relu",
       [](const Args& a, BuildContext&) -> std::shared_ptr<Module> {
         return std::make_shared<LeakyReLU>(a.get_double("negative_slope", 0.01));
       }},
      {"elu",
       [](const Args& a, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<ELU>(a.get_double("alpha", 1.0)); }},
      {"softplus",
       [](const Args& a, BuildContext&) -> std::shared_ptr<Module> {
         return std::make_shared<Softplus>(a.get_double("beta", 1.0), a.get_double("threshold", 20.0));
       }},
      {"softmax",
       [](const Args& a, BuildContext&) -> std::shared_ptr<Module> { return std::make_shared<Softmax>(a.get_int("dim", -1)); }},
      {"log_softmax",
       [](const Args& a, BuildContext&) -> std::shared_ptr<Module> {
         return std::make_shared<LogSoftmax>(a.get_int("dim", -1));
       }},
  };
  return kFactories;
}

std::vector<std::string> factory_names() {
  std::vector<std::string> names;
  for (const auto& [n, f] : factories()) names.push_back(n);
  return names;
}

}  // namespace

std::shared_ptr<Module> make_layer(const Args& spec, const Shape& input_shape, DType dtype, Generator& gen,
                                   const std::string& default_init) {
  if (!spec.has("type")) throw Error(fmt::format("{}: missing key 'type'", spec.where()));
  std::string type = spec.get_string("type");
  auto it = factories().find(type);
  if (it == factories().end()) {
    std::string hint = closest_match(type, factory_names());
    throw Error(fmt::format("{}: unknown layer type '{}'{}", spec.where(), type,
                            hint.empty() ? fmt::format(" (known: {})", fmt::join(factory_names(), ", "))
                                         : fmt::format(" (did you mean '{}'?)", hint)));
  }
  try {
    BuildContext ctx{input_shape, dtype, gen};
    std::shared_ptr<Module> m = it->second(spec, ctx);
    std::string init_name = spec.get_string("init", default_init);
    init::Spec init_spec = init::parse(init_name);
    if (init_spec.name != "default") {
      init::apply(*m, init_spec, gen);
    }
    spec.finish();
    return m;
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind(spec.where(), 0) == 0) throw;
    throw Error(fmt::format("{} ({}): {}", spec.where(), type, msg));
  }
}

std::shared_ptr<Sequential> build_model(const ModelConfig& model, DType dtype, uint64_t seed) {
  if (model.layers.empty()) throw Error("[model] has no layers");
  Generator gen(seed);
  auto net = std::make_shared<Sequential>();
  Shape shape = model.input_shape;
  for (const Args& spec : model.layers) {
    auto layer = make_layer(spec, shape, dtype, gen, model.init);
    try {
      shape = layer->output_shape(shape);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", spec.where(), e.what()));
    }
    net->push_back(layer);
  }
  return net;
}

std::string summary(const Sequential& model, const Shape& input_shape) {
  struct Row {
    std::string name, type, shape;
    int64_t params;
  };
  std::vector<Row> rows;
  size_t type_width = 4, shape_width = 12;  // the headers' widths
  Shape s = input_shape;
  int64_t total = 0;
  for (const auto& [name, m] : model.children()) {
    s = m->output_shape(s);
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    total += n;
    rows.push_back({name, m->describe(), shape_str(s), n});
    type_width = std::max(type_width, rows.back().type.size());
    shape_width = std::max(shape_width, rows.back().shape.size());
  }
  std::ostringstream os;
  os << fmt::format("{:<6} {:<{}} {:<{}} {:>10}\n", "layer", "type", type_width, "output shape", shape_width, "params");
  for (const Row& r : rows)
    os << fmt::format("{:<6} {:<{}} {:<{}} {:>10}\n", r.name, r.type, type_width, r.shape, shape_width, r.params);
  os << fmt::format("total parameters: {}\n", total);
  return os.str();
}

}  // namespace descent::nn

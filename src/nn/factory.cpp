// Layers from config tables. Each entry takes the keys it knows (named as in torch.nn) from the
// Args; Args::finish() then rejects leftovers. To add a layer type: add a row to kFactories.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <sstream>

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
  std::ostringstream os;
  os << fmt::format("{:<6} {:<46} {:<18} {:>10}\n", "layer", "type", "output shape", "params");
  Shape s = input_shape;
  int64_t total = 0;
  for (const auto& [name, m] : model.children()) {
    s = m->output_shape(s);
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    total += n;
    os << fmt::format("{:<6} {:<46} {:<18} {:>10}\n", name, m->describe(), shape_str(s), n);
  }
  os << fmt::format("total parameters: {}\n", total);
  return os.str();
}

}  // namespace descent::nn

// Optimizers by name from the [optimizer] config table. To add one: a branch in make_optimizer.
#include <fmt/format.h>

#include "descent/optim.h"

namespace descent::optim {

std::unique_ptr<Optimizer> make_optimizer(const Args& a, const nn::Module& model) {
  std::string type = a.get_string("type", "sgd");
  std::unique_ptr<Optimizer> opt;
  if (type == "sgd") {
    SGDOptions o;
    o.lr = a.get_double("lr");
    o.momentum = a.get_double("momentum", 0.0);
    o.dampening = a.get_double("dampening", 0.0);
    o.weight_decay = a.get_double("weight_decay", 0.0);
    o.nesterov = a.get_bool("nesterov", false);
    o.maximize = a.get_bool("maximize", false);
    try {
      opt = std::make_unique<SGD>(model.parameters(), o);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: {}", a.where(), e.what()));
    }
  } else {
    std::string hint = closest_match(type, {"sgd"});
    throw Error(fmt::format("{}: unknown optimizer type '{}'{}", a.where(), type,
                            hint.empty() ? " (known: sgd)" : fmt::format(" (did you mean '{}'?)", hint)));
  }
  a.finish();
  return opt;
}

}  // namespace descent::optim

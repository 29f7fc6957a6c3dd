// `descent summary CONFIG [--set k=v ...]`: the configured model without data or training — each
// layer with its output shape and parameter count (nn::summary), then every parameter tensor with
// its state_dict name, shape, and the optimizer group it lands in (lr, weight decay), so a user
// sees which tensors `no_decay` and `groups` select before a run starts.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/nn.h"
#include "descent/optim.h"

namespace descent::cli {

namespace {

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

void register_summary(CLI::App& app) {
  struct Opts {
    std::string config;
    std::vector<std::string> sets;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "summary", "Print the configured model: layers, output shapes, parameter counts, and each parameter's "
                 "optimizer group (lr, weight decay)");
  cmd->add_option("config", opts->config, "Config file (TOML)")->required();
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      Config cfg = load_config(opts->config, opts->sets);
      auto model = nn::build_model(cfg.model, cfg.train.dtype, cfg.train.seed);
      std::unique_ptr<optim::Optimizer> opt = optim::make_optimizer(cfg.optimizer, *model);
      fmt::print("{}: input {} ({})\n\n", opts->config, shape_text(cfg.model.input_shape), dtype_name(cfg.train.dtype));
      fmt::print("{}\n", nn::summary(*model, cfg.model.input_shape));
      // Which group holds each parameter: the optimizer keeps them as ranges of params().
      const auto& params = opt->params();
      fmt::print("{:<24} {:<20} {:>10} {:>6} {:>12} {:>12}\n", "parameter", "shape", "elements", "group", "lr",
                 "weight_decay");
      for (const auto& [name, t] : model->named_parameters()) {
        size_t index = params.size();
        for (size_t i = 0; i < params.size(); ++i)
          if (params[i].is_same(t)) index = i;
        size_t g = 0;
        while (g < opt->groups().size() && !(index >= opt->groups()[g].begin && index < opt->groups()[g].end)) ++g;
        if (g == opt->groups().size()) {
          fmt::print("{:<24} {:<20} {:>10} {:>6}\n", name, shape_text(t.shape()), t.numel(), "-");
          continue;
        }
        const optim::GroupState& gs = opt->groups()[g];
        fmt::print("{:<24} {:<20} {:>10} {:>6} {:>12.6g} {:>12.6g}\n", name, shape_text(t.shape()), t.numel(), g,
                   gs.lr, gs.weight_decay);
      }
      for (const auto& [name, t] : model->named_buffers())
        fmt::print("{:<24} {:<20} {:>10} {:>6}\n", name, shape_text(t.shape()), t.numel(), "buffer");
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

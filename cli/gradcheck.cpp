// `descent gradcheck CONFIG [--samples K] [--batch B] [--set k=v ...]`: the configured model built
// in float64, one batch of the configured data, backprop against central differences for every
// parameter tensor and the input (diag::check_module_gradients). Exit 0 when every tensor passes,
// 1 when one fails (the table and the first failing layer say which), 2 on bad input.
#include <fmt/format.h>

#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/diag.h"
#include "descent/train.h"

namespace descent::cli {

void register_gradcheck(CLI::App& app) {
  struct Opts {
    std::string config;
    std::vector<std::string> sets;
    int64_t samples = 10000;
    int64_t batch = 4;
    uint64_t seed = 0;
    double jitter = 1e-4;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "gradcheck", "Check backprop against central differences in float64 for every parameter and the input "
                   "(exit 0: all pass, 1: a gradient is wrong, 2: bad input)");
  cmd->add_option("config", opts->config, "Config file (TOML)")->required();
  cmd->add_option("--samples", opts->samples, "Elements checked per tensor (all of smaller tensors)")->capture_default_str();
  cmd->add_option("--batch", opts->batch, "Samples in the batch")->capture_default_str();
  cmd->add_option("--seed", opts->seed, "Seed of the element sample")->capture_default_str();
  cmd->add_option("--jitter", opts->jitter,
                  "Uniform noise added to the batch, so an image's constant background does not tie every max-pool "
                  "window (0: the batch as loaded)")
      ->capture_default_str();
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      if (opts->batch <= 0) throw Error(fmt::format("--batch must be positive, got {}", opts->batch));
      if (opts->samples <= 0) throw Error(fmt::format("--samples must be positive, got {}", opts->samples));
      if (!(opts->jitter >= 0)) throw Error(fmt::format("--jitter must be >= 0, got {}", opts->jitter));
      std::vector<std::string> sets = opts->sets;
      sets.insert(sets.end(), {"train.dtype=float64", fmt::format("train.batch_size={}", opts->batch), "train.progress=false"});
      Config cfg = load_config(opts->config, sets);
      train::Trainer trainer(cfg, {.run_dir = "", .progress = false});
      data::Batch b;
      trainer.train_loader().start_epoch(0);
      if (!trainer.train_loader().next(b)) throw Error(fmt::format("{}: the training set is empty", opts->config));
      const auto t0 = std::chrono::steady_clock::now();
      diag::ModuleGradcheckResult r = diag::check_module_gradients(
          trainer.model(), b.x, b.y, trainer.loss(), {.samples = opts->samples, .seed = opts->seed, .jitter = opts->jitter});
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print("gradcheck {}: float64, batch {} (jitter {:g}), loss {:.6g}, eps 1e-6, |a - n| <= 1e-5 + 1e-3 |n|\n\n",
                 opts->config, b.x.size(0), opts->jitter, r.loss);
      fmt::print("{}\n", diag::gradcheck_table(r));
      int64_t checked = 0, kinks = 0;
      for (const auto& t : r.tensors) checked += t.checked, kinks += t.skipped_kinks;
      fmt::print("{} elements checked, {} skipped at kinks, {:.1f}s\n", checked, kinks, secs);
      if (!r.ok) {
        fmt::print("FAIL: {}\n", r.first_failure());
        return 1;
      }
      fmt::print("PASS: every gradient matches\n");
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

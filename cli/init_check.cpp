// `descent init-check CONFIG [--init NAME ...] [--batch B] [--out DIR]`: the lecture's
// initialization experiment on the configured network. One batch of the configured data goes
// through the untrained model once per init; init-check.html shows the per-layer activation
// histograms (one row per init, one column per layer) and init-check.json holds the numbers.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/diag.h"
#include "descent/init.h"
#include "descent/train.h"

namespace descent::cli {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!(out << text) || !out.flush()) throw Error(fmt::format("{}: cannot write the file", path.string()));
}

// Short names users type; the table of init.h has the full ones.
std::string resolve_alias(const std::string& name) {
  if (name == "xavier") return "xavier_uniform";
  if (name == "kaiming" || name == "he") return "kaiming_normal";
  return name;
}

std::string pct(double v) { return std::isfinite(v) ? fmt::format("{:5.1f}%", 100 * v) : "    - "; }

}  // namespace

void register_init_check(CLI::App& app) {
  struct Opts {
    std::string config;
    std::vector<std::string> inits;
    std::vector<std::string> sets;
    int64_t batch = 256;
    std::string out = ".";
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "init-check", "Push one batch through the untrained network for several initializations; per-layer activation "
                    "statistics, histograms (init-check.html, init-check.json) and a verdict per init");
  cmd->add_option("config", opts->config, "Config file (TOML)")->required();
  cmd->add_option("--init", opts->inits,
                  "Initialization to try, as in [model] init (repeatable; default: the configured one, xavier_uniform, "
                  "kaiming_normal, normal(0.01), normal(1.0))");
  cmd->add_option("--batch", opts->batch, "Samples in the batch")->capture_default_str();
  cmd->add_option("--out", opts->out, "Folder for init-check.html and init-check.json")->capture_default_str();
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      if (opts->batch <= 0) throw Error(fmt::format("--batch must be positive, got {}", opts->batch));
      std::vector<std::string> sets = opts->sets;
      sets.push_back(fmt::format("train.batch_size={}", opts->batch));
      sets.push_back("train.progress=false");
      Config cfg = load_config(opts->config, sets);
      std::vector<std::string> inits;
      for (const std::string& n : opts->inits) inits.push_back(resolve_alias(n));
      if (inits.empty()) inits = {cfg.model.init, "xavier_uniform", "kaiming_normal", "normal(0.01)", "normal(1.0)"};
      std::vector<std::string> unique;
      for (const std::string& n : inits) {
        init::parse(n);  // a typo fails before any work, naming the init
        if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(n);
      }
      train::Trainer trainer(cfg, {.run_dir = "", .progress = false});
      data::Batch b;
      trainer.train_loader().start_epoch(0);
      if (!trainer.train_loader().next(b)) throw Error(fmt::format("{}: the training set is empty", opts->config));

      std::vector<diag::InitCheckResult> results;
      for (const std::string& name : unique) {
        auto model = nn::build_model(cfg.model, cfg.train.dtype, cfg.train.seed);
        if (name != cfg.model.init) {  // the configured init is what build_model applied (per-layer inits too)
          Generator gen(cfg.train.seed);
          init::apply(*model, init::parse(name), gen);
        }
        results.push_back(diag::init_check(*model, b.x, b.y, trainer.loss(), name));
      }

      fmt::print("init-check {}: one batch of {}\n\n", opts->config, b.x.size(0));
      for (const auto& r : results) {
        fmt::print("{}: {} ({})\n", r.init, r.verdict, r.reason);
        fmt::print("  {:>5} {:<10} {:>10} {:>10} {:>8} {:>8} {:>10}\n", "layer", "type", "mean", "std", "sat", "zero",
                   "grad std");
        for (const auto& a : r.layers)
          fmt::print("  {:>5} {:<10} {:>10.3g} {:>10.3g} {:>8} {:>8} {:>10.3g}\n", a.layer, a.type, a.mean, a.std,
                     pct(a.saturated), pct(a.zero_frac), a.grad_std);
        fmt::print("\n");
      }
      fs::create_directories(opts->out);
      write_text(fs::path(opts->out) / "init-check.json", diag::init_check_json(results));
      write_text(fs::path(opts->out) / "init-check.html", diag::init_check_html(results, cfg.name));
      fmt::print("wrote {} and {}\n", (fs::path(opts->out) / "init-check.html").string(),
                 (fs::path(opts->out) / "init-check.json").string());
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

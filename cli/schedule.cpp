// `descent schedule CONFIG [--steps N] [--set k=v ...] [--svg FILE]`: the lr of every optimizer step
// of the configured training, without training.
//
// The steps per epoch come from a Trainer built from the config (it loads the data and builds the
// model but writes nothing until fit()). Counting them from the data alone would skip the model,
// but it would have to repeat the trainer's reading of the validation split, "full" batches,
// max_steps and each optimizer's default lr; building the Trainer gives the very numbers training
// uses and validates the whole config as `descent train` would, for about a second of data loading.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/error.h"
#include "descent/sched.h"
#include "descent/train.h"

namespace descent::cli {
namespace {

// The schedule library's messages start "schedule: "; the user needs to know which file to fix.
Error naming_the_file(const Error& e, const std::string& file) {
  const std::string what = e.what();
  if (what.rfind("schedule: ", 0) == 0) return Error(file + what.substr(8));
  return e;
}

// The schedule exactly as Trainer's constructor lays it over the run (kept in step with
// src/train/trainer.cpp: a step cap shortens the epoch the schedule sees).
sched::Schedule configured_schedule(const Config& cfg, train::Trainer& trainer) {
  sched::ScheduleSpec spec = sched::parse_schedule_spec(cfg.schedule_toml, cfg.source);
  int64_t steps_per_epoch = trainer.train_loader().num_batches();
  if (cfg.train.max_steps > 0) steps_per_epoch = std::min(steps_per_epoch, cfg.train.max_steps);
  try {
    return sched::Schedule(spec, trainer.optimizer().lr(),
                           sched::RunLength{.steps_per_epoch = steps_per_epoch, .epochs = cfg.train.epochs});
  } catch (const Error& e) {
    throw naming_the_file(e, cfg.source);
  }
}

// Optimizer steps the training takes: every batch of every epoch, unless max_steps stops it first.
int64_t run_steps(const Config& cfg, train::Trainer& trainer) {
  int64_t steps = trainer.train_loader().num_batches() * cfg.train.epochs;
  if (cfg.train.max_steps > 0) steps = std::min(steps, cfg.train.max_steps);
  return steps;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!(out << text) || !out.flush()) throw Error(fmt::format("{}: cannot write the file", path));
}

}  // namespace

void register_schedule(CLI::App& app) {
  struct Opts {
    std::string config;
    int64_t steps = 0;
    std::vector<std::string> sets;
    std::string svg = "schedule.svg";
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "schedule", "Print the lr of each optimizer step of a config's training as CSV (step,lr[,momentum]), "
                  "without training, and plot it as SVG");
  cmd->add_option("config", opts->config, "Config file (TOML)")->required();
  cmd->add_option("--steps", opts->steps, "Number of steps to print (default: the whole run, epochs x batches)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--svg", opts->svg, "Where to write the SVG plot")->capture_default_str();
  cmd->callback([opts]() {
    int code = guarded([&]() {
      Config cfg = load_config(opts->config, opts->sets);
      std::unique_ptr<train::Trainer> built;
      try {
        built = std::make_unique<train::Trainer>(cfg, train::TrainerOptions{.run_dir = "", .progress = false});
      } catch (const Error& e) {
        throw naming_the_file(e, cfg.source);  // the trainer lays the schedule over the run too
      }
      train::Trainer& trainer = *built;
      sched::Schedule schedule = configured_schedule(cfg, trainer);
      const int64_t steps = opts->steps > 0 ? opts->steps : run_steps(cfg, trainer);
      sched::Trace t = sched::trace(schedule, steps);
      write_text(opts->svg, sched::schedule_svg(t.lr, t.momentum.empty() ? nullptr : &t.momentum));
      std::cout << sched::schedule_csv(t) << std::flush;
      // stderr, so that stdout stays a clean CSV for pipes.
      if (const auto& p = schedule.spec().plateau)
        std::cerr << fmt::format("note: the plateau rule cuts the lr when '{}' stalls during training; the "
                                 "curve shows the lr before any cut\n", p->metric);
      std::cerr << fmt::format("wrote {} ({} steps)\n", opts->svg, steps);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

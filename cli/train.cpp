// `descent train CONFIG [--set section.key=value ...] [--out DIR] [--init-from FILE]`
// `descent train --resume RUN_DIR`: continue a run from its newest valid checkpoint, with the
// config the run started with (RUN_DIR/config.toml), bit for bit as if it had never stopped.
#include <fmt/format.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/dist.h"
#include "descent/train.h"

namespace descent::cli {

namespace {

// A TOML basic string holding `s`, for a --set override.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A run folder that --resume can continue: it exists, holds config.toml, and is not finished.
void check_resumable(const std::string& run_dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(run_dir)) throw Error(fmt::format("{}: --resume needs an existing run folder", run_dir));
  if (!fs::exists(fs::path(run_dir) / "config.toml"))
    throw Error(fmt::format("{}: no config.toml: not a descent run folder", run_dir));
  std::ifstream in(fs::path(run_dir) / "manifest.json");
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (!manifest.is_discarded() && manifest.value("status", "") == "completed")
    throw Error(fmt::format("{}: the run already completed (manifest.json); nothing to resume", run_dir));
}

}  // namespace

void register_train(CLI::App& app) {
  struct Opts {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool quiet = false;
    std::string resume;     // run folder to continue
    std::string init_from;  // safetensors weights to start from
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("train", "Train the model a TOML config describes; results go to a run folder");
  cmd->add_option("config", opts->config, "Config file (TOML); not with --resume");
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", opts->out, "Run folder (default runs/<config name>-<timestamp>)");
  cmd->add_flag("--quiet", opts->quiet, "No progress output");
  cmd->add_option("--resume", opts->resume, "Continue the run in RUN_DIR from its newest valid checkpoint")
      ->type_name("RUN_DIR");
  cmd->add_option("--init-from", opts->init_from, "Start from the weights of a safetensors file ([model] init_from)")
      ->type_name("FILE");
  cmd->callback([opts, &app]() {
    std::vector<std::string> argv_copy;
    int code = guarded([&]() {
      dist::Communicator& comm = dist::world();  // rank 0 of 1 without mpirun
      Config cfg;
      std::string run_dir;
      const bool resume = !opts->resume.empty();
      dist::agree(comm, [&] {  // a config error stops every rank with one message
        if (resume) {
          run_dir = opts->resume;
          if (!opts->config.empty() || !opts->sets.empty() || !opts->out.empty() || !opts->init_from.empty())
            throw Error(fmt::format("{}: --resume continues the run with its own config.toml; drop CONFIG, --set, --out "
                                    "and --init-from", run_dir));
          check_resumable(run_dir);
          cfg = load_config((std::filesystem::path(run_dir) / "config.toml").string());
          return;
        }
        if (opts->config.empty()) throw Error("train: give a CONFIG file, or --resume RUN_DIR");
        std::vector<std::string> sets = opts->sets;
        if (!opts->init_from.empty()) sets.push_back("model.init_from=" + toml_string(opts->init_from));
        cfg = load_config(opts->config, sets);
        run_dir = opts->out.empty() ? train::default_run_dir(cfg) : opts->out;
        if (comm.rank() == 0 && std::filesystem::exists(std::filesystem::path(run_dir) / "metrics.jsonl"))
          throw Error(fmt::format("{}: run folder already holds a run (metrics.jsonl); choose another --out, or "
                                  "continue it with --resume {}", run_dir, run_dir));
      });
      comm.broadcast(run_dir, 0);  // rank 0's timestamp names the folder
      std::vector<std::string> cmdline{"descent", "train"};
      if (resume) cmdline.push_back("--resume=" + run_dir);
      else cmdline.push_back(opts->config);
      for (const auto& s : opts->sets) cmdline.push_back("--set=" + s);
      if (!opts->out.empty()) cmdline.push_back("--out=" + opts->out);
      if (!opts->init_from.empty()) cmdline.push_back("--init-from=" + opts->init_from);
      train::Trainer trainer(cfg, {.run_dir = run_dir, .progress = !opts->quiet, .command_line = cmdline, .resume = resume});
      train::EpochMetrics m = trainer.fit();
      if (trainer.interrupted()) {  // Ctrl-C / SIGTERM: stopped cleanly with a checkpoint
        if (comm.rank() == 0)
          fmt::print(stderr, "stopped{}: checkpoint {}; continue with: descent train --resume {}\n",
                     trainer.stop_signal() ? fmt::format(" by signal {}", trainer.stop_signal()) : "",
                     trainer.last_checkpoint().empty() ? "(none: no run folder)" : trainer.last_checkpoint(), run_dir);
        return 128 + (trainer.stop_signal() ? trainer.stop_signal() : SIGINT);  // the shell's convention
      }
      if (comm.rank() != 0) return 0;
      if (trainer.loss().classification() || std::isfinite(m.test_acc) || std::isfinite(m.val_acc)) {  // binary too
        if (m.has_test) fmt::print("test accuracy: {:.4f}\n", m.test_acc);
        if (m.has_val) fmt::print("validation accuracy: {:.4f}\n", m.val_acc);
      } else {
        fmt::print("final training loss: {:.6g}\n", m.train_loss);
        if (m.has_test) fmt::print("test loss: {:.6g}\n", m.test_loss);
      }
      for (const char* k : {"test_auc", "test_r2", "test_rmse", "test_mae"})  // the task's metrics
        if (m.extra.count(k)) fmt::print("{}: {:.4f}\n", k, m.extra.at(k));
      fmt::print("run folder: {}\n", run_dir);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

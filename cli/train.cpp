// `descent train CONFIG [--set section.key=value ...] [--out DIR]`
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/dist.h"
#include "descent/train.h"

namespace descent::cli {

void register_train(CLI::App& app) {
  struct Opts {
    std::string config;
    std::vector<std::string> sets;
    std::string out;
    bool quiet = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("train", "Train the model a TOML config describes; results go to a run folder");
  cmd->add_option("config", opts->config, "Config file (TOML)")->required();
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", opts->out, "Run folder (default runs/<config name>-<timestamp>)");
  cmd->add_flag("--quiet", opts->quiet, "No progress output");
  cmd->callback([opts, &app]() {
    std::vector<std::string> argv_copy;
    int code = guarded([&]() {
      dist::Communicator& comm = dist::world();  // rank 0 of 1 without mpirun
      Config cfg;
      std::string run_dir;
      dist::agree(comm, [&] {  // a config error stops every rank with one message
        cfg = load_config(opts->config, opts->sets);
        run_dir = opts->out.empty() ? train::default_run_dir(cfg) : opts->out;
        if (comm.rank() == 0 && std::filesystem::exists(std::filesystem::path(run_dir) / "metrics.jsonl"))
          throw Error(fmt::format("{}: run folder already holds a run (metrics.jsonl); choose another --out", run_dir));
      });
      comm.broadcast(run_dir, 0);  // rank 0's timestamp names the folder
      std::vector<std::string> cmdline{"descent", "train", opts->config};
      for (const auto& s : opts->sets) cmdline.push_back("--set=" + s);
      if (!opts->out.empty()) cmdline.push_back("--out=" + opts->out);
      train::Trainer trainer(cfg, {.run_dir = run_dir, .progress = !opts->quiet, .command_line = cmdline});
      train::EpochMetrics m = trainer.fit();
      if (comm.rank() != 0) return 0;
      if (trainer.loss().classification()) {
        if (m.has_test) fmt::print("test accuracy: {:.4f}\n", m.test_acc);
        if (m.has_val) fmt::print("validation accuracy: {:.4f}\n", m.val_acc);
      } else {
        fmt::print("final training loss: {:.6g}\n", m.train_loss);
        if (m.has_test) fmt::print("test loss: {:.6g}\n", m.test_loss);
      }
      fmt::print("run folder: {}\n", run_dir);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

// What `descent eval` and `descent predict` share: the run folder, which of its weights, and the
// data to run on (the run's test set, or another file encoded like the training data).
#pragma once
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <string>

#include "descent/train.h"

namespace descent::cli {

struct RunDataOptions {
  std::string run;              ///< run folder of `descent train`
  std::string from = "final";   ///< final | latest | best
  train::EvalDataOptions data;  ///< --data / --labels
};

/// Adds RUN_DIR, --data, --labels and --from to `cmd`, writing into `o`.
inline void add_run_data_options(CLI::App* cmd, RunDataOptions& o) {
  cmd->add_option("run_dir", o.run, "Run folder of `descent train`")->required();
  cmd->add_option("--data", o.data.data,
                  "Data file instead of the run's test set: a CSV like the training file, or an IDX images file");
  cmd->add_option("--labels", o.data.targets, "IDX: the labels file of --data; CSV: a separate targets file");
  cmd->add_option("--from", o.from, "Weights: final (final.safetensors, default), latest or best checkpoint")
      ->check(CLI::IsMember({"final", "latest", "best"}));
}

/// Loads the run (its warnings go to stderr) and the data set the options name.
inline train::EvalSet load_run_data(const RunDataOptions& o, train::LoadedRun& run) {
  run = train::load_run(o.run, o.from);
  for (const auto& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
  return train::eval_set(run, o.data);
}

}  // namespace descent::cli

// `descent predict RUN_DIR [--data FILE [--labels FILE]] [--from final|latest|best] --out FILE.csv`
//
// Writes one CSV row per sample: its 0-based number in the data file, the predicted class (its
// name when the data names classes), then the model's raw outputs (one column per class, named by
// the class; a logit for binary tasks; one per target for regression, without a class column).
#include <fmt/format.h>

#include "cli/commands.h"
#include "descent/io.h"
#include "descent/train.h"

namespace descent::cli {

void register_predict(CLI::App& app) {
  struct Opts {
    std::string run, from = "final", out;
    train::EvalDataOptions data;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("predict", "Write a trained run's predictions for every sample as CSV");
  cmd->add_option("run_dir", opts->run, "Run folder of `descent train`")->required();
  cmd->add_option("--data", opts->data.data,
                  "Data file instead of the run's test set: a CSV like the training file, or an IDX images file");
  cmd->add_option("--labels", opts->data.targets, "IDX: the labels file of --data; CSV: a separate targets file");
  cmd->add_option("--from", opts->from, "Weights: final (final.safetensors, default), latest or best checkpoint")
      ->check(CLI::IsMember({"final", "latest", "best"}));
  cmd->add_option("--out", opts->out, "CSV file to write")->required();
  cmd->callback([opts]() {
    int code = guarded([&]() {
      train::LoadedRun run = train::load_run(opts->run, opts->from);
      for (const auto& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
      train::EvalSet set = train::eval_set(run, opts->data);
      Tensor out = train::predict_run(run, set);
      io::write_file_atomic(opts->out, train::predictions_csv(set, out));
      fmt::print("wrote {} ({} rows: {})\n", opts->out, out.size(0), set.description);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

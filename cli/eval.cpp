// `descent eval RUN_DIR [--data FILE [--labels FILE]] [--from final|latest|best] [--json]`
//
// Loss, accuracy, per-class accuracy and the confusion matrix of a trained run on its test set or
// on another data file (encoded like the training file, standardized with the run's stored
// statistics); AUC for binary tasks, RMSE/MAE/R² for regression. A table, or JSON with --json.
#include <fmt/format.h>

#include "cli/commands.h"
#include "descent/train.h"

namespace descent::cli {

void register_eval(CLI::App& app) {
  struct Opts {
    std::string run, from = "final";
    train::EvalDataOptions data;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a trained run on its test set or another data file");
  cmd->add_option("run_dir", opts->run, "Run folder of `descent train`")->required();
  cmd->add_option("--data", opts->data.data,
                  "Data file instead of the run's test set: a CSV like the training file, or an IDX images file");
  cmd->add_option("--labels", opts->data.targets, "IDX: the labels file of --data; CSV: a separate targets file");
  cmd->add_option("--from", opts->from, "Weights: final (final.safetensors, default), latest or best checkpoint")
      ->check(CLI::IsMember({"final", "latest", "best"}));
  cmd->add_flag("--json", opts->json, "Print JSON (keys loss, accuracy, per_class_accuracy, confusion, ...)");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      train::LoadedRun run = train::load_run(opts->run, opts->from);
      for (const auto& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
      train::EvalSet set = train::eval_set(run, opts->data);
      double loss = 0.0;
      Tensor out = train::predict_run(run, set, &loss);
      train::EvalReport r = train::eval_report(set, out, loss);
      if (opts->json) {
        fmt::print("{}", train::eval_json(r));
      } else {
        fmt::print("{} on {}\nweights: {}\n\n{}", run.dir, set.description, run.weights_source, train::eval_table(r));
      }
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

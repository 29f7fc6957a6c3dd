// `descent eval RUN_DIR [--data FILE [--labels FILE]] [--from final|latest|best] [--json]`
//
// Loss, accuracy, per-class accuracy and the confusion matrix of a trained run on its test set or
// on another data file (encoded like the training file, standardized with the run's stored
// statistics); AUC for binary tasks, RMSE/MAE/R² for regression. A table, or JSON with --json.
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "descent/train.h"

namespace descent::cli {

void register_eval(CLI::App& app) {
  struct Opts : RunDataOptions {
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a trained run on its test set or another data file");
  add_run_data_options(cmd, *opts);
  cmd->add_flag("--json", opts->json, "Print JSON (keys loss, accuracy, per_class_accuracy, confusion, ...)");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      train::LoadedRun run;
      train::EvalSet set = load_run_data(*opts, run);
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

// `descent predict RUN_DIR [--data FILE [--labels FILE]] [--from final|latest|best] --out FILE.csv`
//
// Writes one CSV row per sample: its 0-based number in the data file, the predicted class (its
// name when the data names classes), then the model's raw outputs (one column per class, named by
// the class; a logit for binary tasks; one per target for regression, without a class column).
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/run_options.h"
#include "descent/io.h"
#include "descent/train.h"

namespace descent::cli {

void register_predict(CLI::App& app) {
  struct Opts : RunDataOptions {
    std::string out;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("predict", "Write a trained run's predictions for every sample as CSV");
  add_run_data_options(cmd, *opts);
  cmd->add_option("--out", opts->out, "CSV file to write")->required();
  cmd->callback([opts]() {
    int code = guarded([&]() {
      train::LoadedRun run;
      train::EvalSet set = load_run_data(*opts, run);
      Tensor out = train::predict_run(run, set);
      io::write_file_atomic(opts->out, train::predictions_csv(set, out));
      fmt::print("wrote {} ({} rows: {})\n", opts->out, out.size(0), set.description);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

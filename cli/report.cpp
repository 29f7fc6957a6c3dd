// `descent report RUN_DIR [--out FILE]`: rebuilds the run's report.html from its folder (curves,
// lr trace, per-layer health, histograms, verdicts, guard events, config and manifest).
#include <fmt/format.h>

#include "cli/commands.h"
#include "descent/diag.h"

namespace descent::cli {

void register_report(CLI::App& app) {
  struct Opts {
    std::string run_dir;
    std::string out;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("report", "Write report.html of a run folder (self-contained: inline SVG, no scripts)");
  cmd->add_option("run_dir", opts->run_dir, "Run folder of `descent train`")->required();
  cmd->add_option("--out", opts->out, "Output file (default RUN_DIR/report.html)");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      fmt::print("{}\n", diag::write_report(opts->run_dir, opts->out));
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

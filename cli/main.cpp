// descent — train neural networks on the CPU from a TOML config.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "descent/dist.h"
#include "descent/error.h"

#ifndef DESCENT_VERSION
#define DESCENT_VERSION "0.0.0"
#endif

namespace descent::cli {

int guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const descent::dist::AgreedError& e) {  // every rank has it: rank 0 says it once
    if (descent::dist::world().rank() == 0) std::cerr << (e.user_error() ? "error: " : "internal error: ") << e.what() << "\n";
    return e.user_error() ? 2 : 1;
  } catch (const descent::Error& e) {  // with several ranks: printed, then MPI_Abort stops them all
    descent::dist::report_fatal(descent::dist::world(), std::string("error: ") + e.what(), 2);
    return 2;
  } catch (const std::exception& e) {
    descent::dist::report_fatal(descent::dist::world(), std::string("internal error: ") + e.what(), 1);
    return 1;
  }
}

}  // namespace descent::cli

int main(int argc, char** argv) {
  try {
    descent::dist::init(argc, argv);  // MPI only under mpirun/srun; a plain run stays one process
  } catch (const descent::Error& e) {
    std::fprintf(stderr, "descent: %s\n", e.what());
    return 2;
  }
  CLI::App app{"descent: train neural networks on the CPU, from one laptop to an MPI cluster"};
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "Print the version and build options");
  descent::cli::register_train(app);
  descent::cli::register_tune(app);
  descent::cli::register_export(app);
  descent::cli::register_eval(app);
  descent::cli::register_predict(app);
  descent::cli::register_gradcheck(app);
  descent::cli::register_init_check(app);
  descent::cli::register_report(app);
  descent::cli::register_summary(app);
  descent::cli::register_schedule(app);
  descent::cli::register_lr_find(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (version) {
    // Asked of the library: DESCENT_WITH_MPI is defined for its sources only.
    const char* mpi = descent::dist::mpi_built() ? "on" : "off";
    fmt::print("descent {} (MPI: {})\n", DESCENT_VERSION, mpi);
    return 0;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  return 0;
}

// descent — train neural networks on the CPU from a TOML config.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "descent/error.h"

#ifndef DESCENT_VERSION
#define DESCENT_VERSION "0.0.0"
#endif

namespace descent::cli {

int guarded(const std::function<int()>& body) {
  try {
    return body();
  } catch (const descent::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace descent::cli

int main(int argc, char** argv) {
  CLI::App app{"descent: train neural networks on the CPU, from one laptop to an MPI cluster"};
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "Print the version and build options");
  descent::cli::register_train(app);
  descent::cli::register_tune(app);
  descent::cli::register_schedule(app);
  descent::cli::register_lr_find(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (version) {
#ifdef DESCENT_WITH_MPI
    const char* mpi = "on";
#else
    const char* mpi = "off";
#endif
    fmt::print("descent {} (MPI: {})\n", DESCENT_VERSION, mpi);
    return 0;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return 0;
  }
  return 0;
}

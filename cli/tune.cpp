// `descent tune STUDY.toml [--jobs N] [--out DIR] [--resume] [-- PROGRAM ARGS...]`; under
// `mpirun -n P` rank 0 runs the study and every rank runs trials (cli/tune_mpi.h).
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/commands.h"
#include "cli/tune_mpi.h"
#include "descent/error.h"
#include "descent/hpo.h"

namespace descent::cli {
namespace {

namespace hpo = descent::hpo;

std::atomic<bool> g_stop{false};

extern "C" void request_stop(int) { g_stop.store(true); }

// Ctrl-C stops the study cleanly (running trials are killed and re-queued for --resume) instead
// of leaving them running: trials live in their own process groups, out of the terminal's reach.
class StopOnSignals {
 public:
  StopOnSignals() {
    struct sigaction sa = {};
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

struct TuneOptions {
  std::string study;
  std::vector<std::string> command;
  int jobs = 0;
  std::string out;
  bool resume = false;
  bool quiet = false;
};

// Runs the study on this process (and, with a launcher, on the MPI ranks it reaches).
int tune(const TuneOptions* opts, hpo::Launcher* launcher, double mpi_tick) {
  const bool from_folder = opts->resume && std::filesystem::is_directory(opts->study);
  hpo::Study study = from_folder ? hpo::load_stored_study(opts->study) : hpo::load_study(opts->study);
  if (!opts->command.empty()) {
    if (!study.base.empty() || !study.base_inline.empty())
      throw Error(fmt::format("{}: has 'base'; a program after -- replaces descent training, so drop 'base'",
                              study.file.string()));
    study.command = opts->command;
  }
  hpo::RunOptions run;
  run.out = !opts->out.empty() ? std::filesystem::path(opts->out)
            : from_folder      ? std::filesystem::path(opts->study)
                               : std::filesystem::path("runs") / study.name;
  run.resume = opts->resume;
  run.jobs = opts->jobs;
  if (run.jobs == 0) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    run.jobs = study.threads_per_trial > 0 ? std::max(1, cores / study.threads_per_trial) : 1;
  }
  run.launcher = launcher;
  if (launcher) run.poll_interval = mpi_tick;
  run.log = opts->quiet ? nullptr : &std::cout;
  run.stop = &g_stop;
  const hpo::StudyResult result = hpo::run_study(study, run);
  fmt::print("study folder: {} (study.db, trials.csv, study.html{})\n", run.out.string(),
             result.best ? ", best.toml" : "");
  if (result.interrupted) {
    fmt::print(stderr, "interrupted: continue with `descent tune {} --resume`\n", run.out.string());
    return 130;
  }
  return 0;
}

}  // namespace

void register_tune(CLI::App& app) {
  auto opts = std::make_shared<TuneOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tune", "Search hyper-parameters: run the trials of a study file, pruning hopeless ones early");
  cmd->add_option("study", opts->study, "Study file (TOML); with --resume, a study folder also works")->required();
  cmd->add_option("command", opts->command,
                  "After --: a program to run per trial instead of `descent train`; {name} becomes the value of "
                  "parameter name, {trial_dir} the trial's folder. It prints `intermediate STEP VALUE` lines and "
                  "finally its objective alone on a line");
  cmd->add_option("--jobs,-j", opts->jobs,
                  "Trials at once (default: cores / threads_per_trial, else 1); under mpirun: per rank (default 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", opts->out, "Study folder (default runs/<study name>)");
  cmd->add_flag("--resume", opts->resume, "Continue the study in the study folder; finished trials are kept");
  cmd->add_flag("--quiet", opts->quiet, "No live table");
  cmd->callback([opts]() {
    const int code = guarded([&]() {
      namespace hpo = descent::hpo;
      dist::Communicator& comm = dist::world();
      g_stop.store(false);
      StopOnSignals signals;             // under mpirun, the other ranks ignore the signals: rank 0 stops them
      constexpr double kMpiTick = 0.02;  // seconds between message exchanges of the ranks
      if (comm.size() > 1 && comm.rank() != 0) {
        serve_trials(comm, kMpiTick);
        return 0;
      }
      std::unique_ptr<hpo::Launcher> launcher;
      if (comm.size() > 1) launcher = mpi_launcher(comm, opts->jobs > 0 ? opts->jobs : 1);
      try {
        return tune(opts.get(), launcher.get(), kMpiTick);
      } catch (const Error& e) {
        if (!launcher) throw;
        launcher.reset();  // the other ranks stop and exit normally: no MPI_Abort is needed
        std::cerr << "error: " << e.what() << "\n";
        return 2;
      }
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

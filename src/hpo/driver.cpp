// hpo/driver.cpp — runs a study: launches trials, follows their output, prunes, records.
//
// One thread, one loop: start trials while slots and budget allow, read what each running
// trial has written since the last look, ask the pruner after every reported step, stop the
// hopeless ones (SIGTERM, SIGKILL after a grace period), and record everything in SQLite as it
// happens, so a crash loses at most the trials that were running.
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "descent/error.h"
#include "descent/hpo.h"
#include "hpo/storage.h"
#include "hpo/trial_output.h"

namespace descent::hpo {
namespace {

double now_unix() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string pruner_name(const PrunerConfig& config) {
  constexpr const char* kNames[] = {"none", "median", "asha", "hyperband"};
  static_assert(std::size(kNames) == std::variant_size_v<PrunerConfig>);
  return kNames[config.index()];
}

// `--set key=value` reads the value as TOML (a bare word falls back to a string): strings are
// quoted so that a choice like "true" or "1e3" stays a string.
std::string set_literal(const Value& value) {
  return std::holds_alternative<std::string>(value) ? to_json(value) : format_value(value);
}

std::string study_key(const Study& study) {
  std::string key = fmt::format("{}|{}|{}", signature(study.space), study.metric,
                                study.direction == Direction::Minimize ? "minimize" : "maximize");
  for (const auto& [k, v] : study.fixed) key += fmt::format("|{}={}", k, to_json(v));  // [set] changes the trials too
  return key;
}

// "{optimizer.lr}" in an external command: a parameter (empty when inactive), {trial_dir} or {number}.
std::string substitute(const std::string& arg, const Study& study, const Params& params, const std::string& dir,
                       int number) {
  std::string out;
  for (std::size_t i = 0; i < arg.size();) {
    const std::size_t open = arg.find('{', i);
    const std::size_t close = open == std::string::npos ? open : arg.find('}', open);
    if (close == std::string::npos) {
      out += arg.substr(i);
      break;
    }
    out += arg.substr(i, open - i);
    const std::string name = arg.substr(open + 1, close - open - 1);
    if (name == "trial_dir")
      out += dir;
    else if (name == "number")
      out += std::to_string(number);
    else if (auto it = params.find(name); it != params.end())
      out += format_value(it->second);
    else if (std::none_of(study.space.params.begin(), study.space.params.end(),
                          [&](const ParamSpec& p) { return p.name == name; }))
      throw Error(fmt::format("{}: command: {{{}}} is not a parameter of [space] (nor trial_dir, number)",
                              study.file.string(), name));
    i = close + 1;
  }
  return out;
}

struct Active {
  int number = 0;
  std::unique_ptr<TrialHandle> process;
  int lines = 0;
  std::optional<double> objective;  // external program: its last number line
  bool stopping = false, killed = false;
  double stop_time = 0, deadline = 0;
  TrialState outcome = TrialState::Failed;
  std::string message;
  bool requeue = false;
};

class Driver {
 public:
  Driver(const Study& study, const RunOptions& options) : study_(study), options_(options) {}
  StudyResult run();

 private:
  void open();
  void requeue(Trial& trial);
  bool can_launch() const;
  void launch();
  [[noreturn]] void cannot_start(Trial& t, const Error& e);
  void poll(Active& a);
  void handle_line(Active& a, const std::string& line);
  void record(Active& a, int step, double value);
  void stop(Active& a, TrialState outcome, std::string message, bool requeue = false);
  void finish(Active& a, const ExitStatus& status);
  void log_trial(const Trial& t);
  std::vector<std::string> command_for(const Trial& t, const std::filesystem::path& dir) const;
  std::filesystem::path trial_dir(int number) const { return options_.out / "trials" / fmt::format("{:04d}", number); }
  bool external() const { return !study_.command.empty(); }

  const Study& study_;
  const RunOptions& options_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Pruner> pruner_;
  std::unique_ptr<Launcher> own_launcher_;  // when RunOptions::launcher is null
  Launcher* launcher_ = nullptr;
  std::vector<Trial> trials_;  // index = number
  std::vector<std::unique_ptr<Active>> active_;
  std::filesystem::path base_;
  std::vector<std::string> trainer_;
  double start_ = 0;
  bool exhausted_ = false, interrupted_ = false;
};

void Driver::open() {
  launcher_ = options_.launcher;
  if (!launcher_) {
    own_launcher_ = local_launcher(options_.jobs);  // checks jobs >= 1
    launcher_ = own_launcher_.get();
  }
  if (!external() && study_.base.empty() && study_.base_inline.empty())
    throw Error(fmt::format("{}: set 'base' (a descent config) or 'command' (a program to run per trial)",
                            study_.file.string()));
  const std::filesystem::path db = options_.out / "study.db";
  if (std::filesystem::exists(db) && !options_.resume)
    throw Error(fmt::format("{}: a study is already there; pass --resume to continue it, or choose another --out",
                            db.string()));
  std::filesystem::create_directories(options_.out / "trials");
  storage_ = std::make_unique<Storage>(db);
  if (auto key = storage_->meta("key"); key && *key != study_key(study_))
    throw Error(fmt::format("{}: holds a study with another space, metric or direction than {}; use another --out",
                            db.string(), study_.file.string()));
  storage_->set_meta("key", study_key(study_));
  storage_->set_meta("name", study_.name);
  // What `descent tune --resume DIR` needs to rebuild the study without its file.
  storage_->set_meta("study_file", std::filesystem::absolute(study_.file).string());
  storage_->set_meta("study_text", study_.text);
  storage_->set_meta("command", nlohmann::json(study_.command).dump());

  if (!external()) {
    base_ = study_.base;
    if (!study_.base_inline.empty()) {
      base_ = options_.out / "base.toml";
      std::ofstream(base_, std::ios::binary) << study_.base_inline << "\n";
    }
    if (!std::filesystem::exists(base_))
      throw Error(fmt::format("{}: base: {} does not exist", study_.file.string(), base_.string()));
    base_ = std::filesystem::absolute(base_);
    trainer_ = options_.trainer;
    if (trainer_.empty()) {
      std::error_code ec;
      const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (ec) throw Error("cannot locate the descent executable to run trials; pass RunOptions::trainer");
      trainer_ = {self.string(), "train"};
    }
  }
  for (const std::string& a : study_.command) substitute(a, study_, {}, "", 0);  // unknown {names} throw now
  sampler_ = make_sampler(study_.sampler);
  pruner_ = make_pruner(study_.pruner);

  trials_ = storage_->load();
  // A trial still "running" in the database was cut off by a crash: it failed, and runs again.
  for (std::size_t i = 0, n = trials_.size(); i < n; ++i) {
    if (trials_[i].state != TrialState::Running) continue;
    trials_[i].state = TrialState::Failed;
    trials_[i].message = "interrupted: the study stopped while it ran";
    requeue(trials_[i]);
  }
}

void Driver::requeue(Trial& trial) {
  const Params params = trial.params;  // `trial` may move when trials_ grows
  const int number = storage_->add_trial(params, TrialState::Waiting);
  trial.requeued_as = number;
  storage_->update_trial(trial);
  trials_.push_back(Trial{.number = number, .state = TrialState::Waiting, .params = params});
}

bool Driver::can_launch() const {
  if (interrupted_ || exhausted_ || static_cast<int>(active_.size()) >= launcher_->slots()) return false;
  if (study_.timeout > 0 && now_unix() - start_ >= study_.timeout) return false;
  if (study_.trials == 0) return true;
  int used = 0;  // trials that took (or are taking) a turn of the budget
  for (const Trial& t : trials_) used += t.state != TrialState::Waiting && !t.requeued_as;
  return used < study_.trials;
}

std::vector<std::string> Driver::command_for(const Trial& t, const std::filesystem::path& dir) const {
  std::vector<std::string> argv;
  if (external()) {
    for (const std::string& a : study_.command) argv.push_back(substitute(a, study_, t.params, dir.string(), t.number));
    return argv;
  }
  argv = trainer_;
  argv.push_back(base_.string());
  for (const auto& [k, v] : study_.fixed) {
    argv.push_back("--set");
    argv.push_back(fmt::format("{}={}", k, set_literal(v)));
  }
  for (const auto& [k, v] : t.params) {
    argv.push_back("--set");
    argv.push_back(fmt::format("{}={}", k, set_literal(v)));
  }
  argv.push_back("--out");
  argv.push_back(dir.string());
  return argv;
}

void Driver::launch() {
  int number = -1;
  for (const Trial& t : trials_)
    if (t.state == TrialState::Waiting) {
      number = t.number;
      break;
    }
  if (number < 0) {
    auto params = sampler_->sample(study_.space, {.trials = trials_, .direction = study_.direction},
                                   static_cast<int>(trials_.size()));
    if (!params) {
      exhausted_ = true;
      return;
    }
    number = storage_->add_trial(*params, TrialState::Running);
    trials_.push_back(Trial{.number = number, .params = std::move(*params)});
  }
  Trial& t = trials_[static_cast<std::size_t>(number)];
  t.state = TrialState::Running;
  t.started = now_unix();
  const std::filesystem::path dir = std::filesystem::absolute(trial_dir(number));
  std::filesystem::create_directories(dir);
  storage_->update_trial(t);
  if (options_.log)
    *options_.log << fmt::format("trial {:>4}  started   ", number) << [&] {
      std::string s;
      for (const auto& [k, v] : t.params) s += fmt::format(" {}={}", k, format_value(v));
      return s;
    }() << "\n" << std::flush;

  auto a = std::make_unique<Active>();
  a->number = number;
  a->deadline = study_.trial_timeout > 0 ? now_unix() + study_.trial_timeout : 0;
  TrialLaunch launch{.number = number,
                     .argv = command_for(t, dir),
                     .dir = dir,
                     .follow = dir / (external() ? "stdout.log" : "metrics.jsonl")};
  if (study_.threads_per_trial > 0)
    launch.env.emplace_back("OMP_NUM_THREADS", std::to_string(study_.threads_per_trial));
  try {
    a->process = launcher_->start(launch);
  } catch (const Error& e) {
    cannot_start(t, e);
  }
  active_.push_back(std::move(a));
}

// The program cannot be started: every other trial would fail the same way, so the study stops
// here with the reason (the trial stays recorded as failed).
void Driver::cannot_start(Trial& t, const Error& e) {
  t.state = TrialState::Failed;
  t.message = e.what();
  t.finished = now_unix();
  storage_->update_trial(t);
  log_trial(t);
  throw e;
}

void Driver::record(Active& a, int step, double value) {
  Trial& t = trials_[static_cast<std::size_t>(a.number)];
  t.intermediate[step] = value;
  storage_->add_intermediate(a.number, step, value);
  if (!pruner_) return;
  const std::size_t rungs = t.rungs.size();
  const bool prune = pruner_->should_prune(t, {.trials = trials_, .direction = study_.direction});
  for (std::size_t r = rungs; r < t.rungs.size(); ++r) storage_->add_rung(a.number, static_cast<int>(r), t.rungs[r]);
  if (prune) stop(a, TrialState::Pruned, fmt::format("pruned at step {} by {}", step, pruner_name(study_.pruner)));
}

void Driver::handle_line(Active& a, const std::string& line) {
  ++a.lines;
  const LineReport r = external() ? parse_program_line(line) : parse_metrics_line(line, study_.metric, a.lines);
  if (!r.error.empty()) return stop(a, TrialState::Failed, r.error);
  if (r.objective) a.objective = r.objective;
  if (!r.stop.empty()) {
    // A dead or diverged trial reports NaN at the step it stopped: samplers rank it last, not
    // by whatever its metric still said.
    if (r.step) {
      trials_[static_cast<std::size_t>(a.number)].intermediate[*r.step] = NAN;
      storage_->add_intermediate(a.number, *r.step, NAN);
    }
    return stop(a, TrialState::Pruned, r.stop);
  }
  if (r.step && r.value) record(a, *r.step, *r.value);
}

void Driver::stop(Active& a, TrialState outcome, std::string message, bool requeue) {
  if (a.stopping) return;
  a.stopping = true;
  a.outcome = outcome;
  a.message = std::move(message);
  a.requeue = requeue;
  a.stop_time = now_unix();
  a.process->signal(SIGTERM);
}

void Driver::poll(Active& a) {
  for (const std::string& line : a.process->read(false)) {
    if (a.stopping) break;  // nothing after the decision to stop counts
    handle_line(a, line);
  }
  std::optional<ExitStatus> status;
  try {
    status = a.process->poll();
  } catch (const Error& e) {  // a remote launcher could not start it
    cannot_start(trials_[static_cast<std::size_t>(a.number)], e);
  }
  if (status) {
    if (!a.stopping)
      for (const std::string& line : a.process->read(/*flush=*/true))
        if (!a.stopping) handle_line(a, line);
    finish(a, *status);
    return;
  }
  const double now = now_unix();
  if (a.stopping && !a.killed && now - a.stop_time >= options_.kill_grace) {
    a.process->signal(SIGKILL);
    a.killed = true;
  }
  if (!a.stopping && a.deadline > 0 && now >= a.deadline)
    stop(a, TrialState::Failed, fmt::format("timed out after {} s", study_.trial_timeout));
}

void Driver::finish(Active& a, const ExitStatus& status) {
  Trial& t = trials_[static_cast<std::size_t>(a.number)];
  t.finished = now_unix();
  if (a.stopping) {
    t.state = a.outcome;
    t.message = a.message;
  } else if (status.signaled || status.code != 0) {
    t.state = TrialState::Failed;
    const std::string why = a.process->failure_detail();
    t.message = status.describe() + (why.empty() ? "" : ": " + why);
  } else {
    std::optional<double> value = a.objective;
    if (!external() && !t.intermediate.empty()) value = t.intermediate.rbegin()->second;
    if (!value) {
      t.state = TrialState::Failed;
      t.message = external() ? "the program printed no objective (a line holding one number)"
                             : fmt::format("metric '{}' not found in metrics.jsonl", study_.metric);
    } else if (!std::isfinite(*value)) {
      t.state = TrialState::Failed;
      t.message = "the objective is not finite";
    } else {
      t.state = TrialState::Complete;
      t.value = value;
    }
  }
  storage_->update_trial(t);
  log_trial(t);
  if (a.requeue) requeue(trials_[static_cast<std::size_t>(a.number)]);
  a.number = -1;  // done: removed by the loop
}

void Driver::log_trial(const Trial& t) {
  if (!options_.log) return;
  const auto best = best_trial(trials_, study_.direction);
  *options_.log << fmt::format("trial {:>4}  {:<9} value {:<12} best {:<12} {}\n", t.number, to_string(t.state),
                               t.value ? fmt::format("{:.6g}", *t.value) : "-",
                               best ? fmt::format("{:.6g}", *trials_[static_cast<std::size_t>(*best)].value) : "-",
                               t.message)
                << std::flush;
}

StudyResult Driver::run() {
  open();
  start_ = now_unix();
  while (true) {
    if (options_.stop && options_.stop->load() && !interrupted_) {
      interrupted_ = true;
      for (auto& a : active_) stop(*a, TrialState::Failed, "interrupted", /*requeue=*/true);
    }
    while (can_launch()) launch();
    if (active_.empty()) break;
    launcher_->sync();
    for (auto& a : active_) poll(*a);
    std::erase_if(active_, [](const auto& a) { return a->number < 0; });
    std::this_thread::sleep_for(std::chrono::duration<double>(options_.poll_interval));
  }

  StudyResult result{.trials = storage_->load(), .best = std::nullopt, .interrupted = interrupted_};
  result.best = best_trial(result.trials, study_.direction);
  write_trials_csv(options_.out / "trials.csv", result.trials, study_.space);
  write_study_html(options_.out / "study.html", study_, result.trials);
  if (result.best)
    write_trial_config(options_.out / "best.toml", study_, result.trials[static_cast<std::size_t>(*result.best)]);
  if (options_.log) *options_.log << summary(study_, result.trials) << std::flush;
  return result;
}

}  // namespace

StudyResult run_study(const Study& study, const RunOptions& options) { return Driver(study, options).run(); }

std::vector<Trial> load_trials(const std::filesystem::path& out) {
  const auto db = out / "study.db";
  if (!std::filesystem::exists(db)) throw Error(fmt::format("{}: no study database there", db.string()));
  return Storage(db).load();
}

Study load_stored_study(const std::filesystem::path& out) {
  const auto db = out / "study.db";
  if (!std::filesystem::exists(db)) throw Error(fmt::format("{}: no study database there", db.string()));
  Storage storage(db);
  const auto file = storage.meta("study_file");
  const auto text = storage.meta("study_text");
  if (!file || !text || text->empty())
    throw Error(fmt::format("{}: the study file was not stored; pass it on the command line", db.string()));
  Study study = parse_study(*text, *file);
  if (auto command = storage.meta("command")) {
    const auto j = nlohmann::json::parse(*command, nullptr, false);
    if (j.is_array() && !j.empty()) study.command = j.get<std::vector<std::string>>();
  }
  return study;
}

}  // namespace descent::hpo

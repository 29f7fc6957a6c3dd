// cli/tune_mpi.cpp — trials on MPI ranks for `descent tune` (see tune_mpi.h).
#include "cli/tune_mpi.h"

#include <fmt/format.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "descent/error.h"

namespace descent::cli {
namespace {

using nlohmann::json;

// A trial's process must not believe it is an MPI rank: `descent train` calls MPI_Init when it
// sees a launcher's variables, and would then try to join this job.
const std::vector<std::string> kLauncherVariables = {"OMPI_*", "PMIX_*",          "PMI_*",           "OPAL_*", "PRTE_*",
                                                     "ORTE_*", "MPI_LOCALNRANKS", "MPI_LOCALRANKID", "HYDRA_*"};

void sleep_for(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

// One tick: each rank's `news` reaches rank 0 (returned there, by rank) and rank 0's `commands`
// reach every rank (returned). The barrier polls a nonblocking all-reduce with short sleeps, so
// a rank waiting for the others (rank 0 busy writing reports, say) leaves the cores to trials.
std::pair<std::vector<std::string>, std::string> exchange(dist::Communicator& comm, const std::string& news,
                                                          std::string commands) {
  double token = 0;
  auto barrier = comm.iallreduce(&token, 1, DType::F64, dist::ReduceOp::Sum);
  while (!barrier->test()) sleep_for(0.002);
  const std::vector<uint64_t> sizes = comm.allgather(news.size());
  std::vector<std::string> all(static_cast<std::size_t>(comm.size()));
  for (int r = 1; r < comm.size(); ++r) {
    if (sizes[static_cast<std::size_t>(r)] == 0) continue;
    std::string s = comm.rank() == r ? news : std::string();
    comm.broadcast(s, r);
    if (comm.rank() == 0) all[static_cast<std::size_t>(r)] = std::move(s);
  }
  comm.broadcast(commands, 0);
  return {std::move(all), std::move(commands)};
}

// Trial output may hold any bytes: invalid UTF-8 becomes U+FFFD instead of an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json exit_json(const hpo::ExitStatus& s) { return json{{"code", s.code}, {"signaled", s.signaled}}; }

class MpiLauncher;

// A trial running on another rank: what that rank reported, buffered until the driver reads it.
class RemoteTrial : public hpo::TrialHandle {
 public:
  RemoteTrial(MpiLauncher& owner, int rank, int number) : owner_(owner), rank_(rank), number_(number) {}
  ~RemoteTrial() override;
  std::vector<std::string> read(bool) override { return std::exchange(lines_, {}); }
  std::optional<hpo::ExitStatus> poll() override {
    if (!error_.empty()) throw Error(error_);
    return status_;
  }
  void signal(int signal) override;
  std::string failure_detail() override { return detail_; }

  void take(const json& j) {
    if (auto it = j.find("lines"); it != j.end())
      for (const auto& line : *it) lines_.push_back(line.get<std::string>());
    if (auto it = j.find("error"); it != j.end()) error_ = it->get<std::string>();
    if (auto it = j.find("exit"); it != j.end()) {
      status_ = hpo::ExitStatus{.code = it->at("code").get<int>(), .signaled = it->at("signaled").get<bool>()};
      detail_ = j.value("detail", "");
    }
  }

 private:
  MpiLauncher& owner_;
  int rank_, number_;
  std::vector<std::string> lines_;
  std::optional<hpo::ExitStatus> status_;
  std::string detail_, error_;
};

// A trial on rank 0 itself, counted in its rank's slots.
class CountedTrial : public hpo::TrialHandle {
 public:
  CountedTrial(std::unique_ptr<hpo::TrialHandle> inner, int& running) : inner_(std::move(inner)), running_(running) {
    ++running_;
  }
  ~CountedTrial() override { --running_; }
  std::vector<std::string> read(bool flush) override { return inner_->read(flush); }
  std::optional<hpo::ExitStatus> poll() override { return inner_->poll(); }
  void signal(int signal) override { inner_->signal(signal); }
  std::string failure_detail() override { return inner_->failure_detail(); }

 private:
  std::unique_ptr<hpo::TrialHandle> inner_;
  int& running_;
};

class MpiLauncher : public hpo::Launcher {
 public:
  MpiLauncher(dist::Communicator& comm, int jobs_per_rank)
      : comm_(comm),
        jobs_(jobs_per_rank),
        running_(static_cast<std::size_t>(comm.size()), 0),
        local_(hpo::local_launcher(jobs_per_rank)) {
    if (jobs_per_rank < 1) throw Error(fmt::format("--jobs must be >= 1 (got {})", jobs_per_rank));
  }
  ~MpiLauncher() override {
    try {
      exchange(comm_, "", json{{"quit", true}}.dump());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "tune: could not tell the other ranks to stop: %s\n", e.what());
    }
  }

  int slots() const override { return jobs_ * comm_.size(); }

  std::unique_ptr<hpo::TrialHandle> start(const hpo::TrialLaunch& launch) override {
    int rank = 0;  // the rank with the most free slots; the lowest such rank
    for (int r = 1; r < comm_.size(); ++r)
      if (running_[static_cast<std::size_t>(r)] < running_[static_cast<std::size_t>(rank)]) rank = r;
    hpo::TrialLaunch l = launch;
    l.env.emplace_back("DESCENT_TUNE_RANK", std::to_string(rank));
    l.unset_env.insert(l.unset_env.end(), kLauncherVariables.begin(), kLauncherVariables.end());
    if (rank == 0) return std::make_unique<CountedTrial>(local_->start(l), running_[0]);
    commands_["start"].push_back(json{{"rank", rank},
                                      {"n", l.number},
                                      {"argv", l.argv},
                                      {"dir", l.dir.string()},
                                      {"follow", l.follow.string()},
                                      {"env", l.env},
                                      {"unset", l.unset_env}});
    auto handle = std::make_unique<RemoteTrial>(*this, rank, l.number);
    remote_[l.number] = handle.get();
    ++running_[static_cast<std::size_t>(rank)];
    return handle;
  }

  void sync() override {
    const std::string commands = commands_.empty() ? std::string() : dump(commands_);
    commands_ = json::object();
    auto [news, ignored] = exchange(comm_, "", commands);
    for (const std::string& text : news) {
      if (text.empty()) continue;
      const json message = json::parse(text);  // named: a range-for over a temporary's member dangles
      for (const json& t : message.at("trials"))
        if (auto it = remote_.find(t.at("n").get<int>()); it != remote_.end()) it->second->take(t);
    }
  }

  void send_signal(int rank, int number, int signal) {
    commands_["signal"].push_back(json{{"rank", rank}, {"n", number}, {"sig", signal}});
  }
  void forget(int rank, int number) {
    remote_.erase(number);
    --running_[static_cast<std::size_t>(rank)];
  }

 private:
  dist::Communicator& comm_;
  int jobs_;
  std::vector<int> running_;  // trials running per rank
  std::unique_ptr<hpo::Launcher> local_;
  std::map<int, RemoteTrial*> remote_;  // by trial number
  json commands_ = json::object();      // for the next tick
};

RemoteTrial::~RemoteTrial() { owner_.forget(rank_, number_); }
void RemoteTrial::signal(int signal) { owner_.send_signal(rank_, number_, signal); }

}  // namespace

std::unique_ptr<hpo::Launcher> mpi_launcher(dist::Communicator& comm, int jobs_per_rank) {
  return std::make_unique<MpiLauncher>(comm, jobs_per_rank);
}

void serve_trials(dist::Communicator& comm, double tick_seconds) {
  const auto local = hpo::local_launcher(1);  // rank 0 decides how many run here
  std::map<int, std::unique_ptr<hpo::TrialHandle>> trials;
  std::string news;
  while (true) {
    const std::string text = exchange(comm, news, "").second;
    news.clear();
    json report = json::array();
    const json commands = text.empty() ? json::object() : json::parse(text);
    if (commands.value("quit", false)) break;  // the handles' destructors kill what still runs
    const int me = comm.rank();
    for (const json& c : commands.value("start", json::array())) {
      if (c.at("rank").get<int>() != me) continue;
      const int n = c.at("n").get<int>();
      hpo::TrialLaunch l{.number = n,
                         .argv = c.at("argv").get<std::vector<std::string>>(),
                         .dir = c.at("dir").get<std::string>(),
                         .follow = c.at("follow").get<std::string>(),
                         .env = c.at("env").get<std::vector<std::pair<std::string, std::string>>>(),
                         .unset_env = c.at("unset").get<std::vector<std::string>>()};
      try {
        trials[n] = local->start(l);
      } catch (const Error& e) {
        report.push_back(json{{"n", n}, {"error", fmt::format("rank {}: {}", me, e.what())}});
      }
    }
    for (const json& c : commands.value("signal", json::array()))
      if (c.at("rank").get<int>() == me)
        if (auto it = trials.find(c.at("n").get<int>()); it != trials.end()) it->second->signal(c.at("sig").get<int>());
    for (auto it = trials.begin(); it != trials.end();) {
      json t = {{"n", it->first}};
      std::vector<std::string> lines = it->second->read(false);
      const auto status = it->second->poll();
      if (status) {
        for (std::string& line : it->second->read(true)) lines.push_back(std::move(line));
        t["exit"] = exit_json(*status);
        t["detail"] = it->second->failure_detail();
      }
      if (!lines.empty()) t["lines"] = lines;
      if (t.size() > 1) report.push_back(std::move(t));
      it = status ? trials.erase(it) : std::next(it);
    }
    if (!report.empty()) news = dump(json{{"trials", report}});
    sleep_for(tick_seconds);
  }
}

}  // namespace descent::cli

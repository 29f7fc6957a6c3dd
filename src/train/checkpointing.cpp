#include "train/checkpointing.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "train/run_folder.h"
#include "io/json_number.h"

namespace descent::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json num(double v) { return io::json_number(v); }
double num(const json& j) { return io::number_from_json(j, "checkpoint"); }

json metrics_state(const EpochMetrics& m) {
  json extra = json::object();
  for (const auto& [k, v] : m.extra) extra[k] = num(v);
  return {{"extra", extra}, {"epoch", m.epoch},           {"step", m.step},         {"lr", num(m.lr)},
          {"train_loss", num(m.train_loss)}, {"train_acc", num(m.train_acc)}, {"val_loss", num(m.val_loss)},
          {"val_acc", num(m.val_acc)},   {"test_loss", num(m.test_loss)}, {"test_acc", num(m.test_acc)},
          {"has_val", m.has_val},        {"has_test", m.has_test}, {"seconds", num(m.seconds)},
          {"samples_per_s", num(m.samples_per_s)}};
}
EpochMetrics metrics_from(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch").get<int64_t>();
  m.step = j.at("step").get<int64_t>();
  m.lr = num(j.at("lr"));
  m.train_loss = num(j.at("train_loss"));
  m.train_acc = num(j.at("train_acc"));
  m.val_loss = num(j.at("val_loss"));
  m.val_acc = num(j.at("val_acc"));
  m.test_loss = num(j.at("test_loss"));
  m.test_acc = num(j.at("test_acc"));
  m.has_val = j.at("has_val").get<bool>();
  m.has_test = j.at("has_test").get<bool>();
  m.seconds = num(j.at("seconds"));
  m.samples_per_s = num(j.at("samples_per_s"));
  for (const auto& [k, v] : j.at("extra").items()) m.extra[k] = num(v);
  return m;
}

// Every Dropout in the model, by module path ("3", or "2.1" when nested).
void collect_generators(nn::Module& m, const std::string& prefix, std::vector<std::pair<std::string, Generator*>>& out) {
  if (auto* d = dynamic_cast<nn::Dropout*>(&m)) out.emplace_back(prefix, &d->generator());
  for (const auto& [name, child] : m.children()) collect_generators(*child, prefix.empty() ? name : prefix + "." + name, out);
}

// The first line where two config texts differ, for the message.
std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ea = !std::getline(sa, la), eb = !std::getline(sb, lb);
    if (ea && eb) return "";
    if (ea || eb || la != lb) return fmt::format("line {}: checkpoint has '{}', config has '{}'", line, ea ? "" : la, eb ? "" : lb);
  }
}

}  // namespace

Checkpointer::Checkpointer(const io::CheckpointOptions& options, const std::string& run_dir)
    : opt_(options), store_((fs::path(run_dir) / "checkpoints").string()) {}

std::string Checkpointer::save(const TrainerParts& p, const LoopState& loop, std::optional<double> metric_value) {
  io::CheckpointId id{.step = loop.step, .epoch = loop.epoch, .epoch_end = loop.epoch_done};
  // A better epoch becomes the best before its checkpoint is written, so the file records itself.
  if (metric_value && !std::isnan(*metric_value) &&
      (!best_id_ || (opt_.maximize ? *metric_value > best_value_ : *metric_value < best_value_))) {
    best_id_ = id;
    best_value_ = *metric_value;
  }
  nn::NamedTensors tensors;
  for (const auto& [name, t] : p.model.state_dict()) tensors.emplace_back("model." + name, t);
  for (const auto& [name, t] : p.optimizer.state()) tensors.emplace_back("optimizer." + name, t);
  if (p.early_stop)
    for (const auto& [name, t] : p.early_stop->best_state()) tensors.emplace_back("early_stopping." + name, t);
  if (p.health)
    for (const auto& [name, t] : p.health->state_tensors()) tensors.emplace_back("health." + name, t);

  const data::LoaderState ls = p.train_loader.state();
  json groups = json::array();
  for (const auto& g : p.optimizer.groups()) groups.push_back({{"lr", num(g.lr)}, {"weight_decay", num(g.weight_decay)}});
  json gens = json::object();
  std::vector<std::pair<std::string, Generator*>> gl;
  collect_generators(p.model, "", gl);
  for (const auto& [name, g] : gl) gens[name] = g->state();
  json history = json::array();
  for (const auto& m : p.history) history.push_back(metrics_state(m));
  json callbacks = json::object();
  for (const auto& cb : p.callbacks)
    if (!cb->state_key().empty()) callbacks[cb->state_key()] = cb->save_state();
  json best = nullptr;
  if (best_id_) best = {{"metric", opt_.metric}, {"value", num(best_value_)}, {"name", best_id_->name()},
                        {"step", best_id_->step}, {"epoch", best_id_->epoch}};
  json state = {
      {"loop", {{"epoch", loop.epoch}, {"epoch_done", loop.epoch_done}, {"step", loop.step},
                {"loss_sum", num(loop.loss_sum)}, {"correct", num(loop.correct)}, {"seen", loop.seen},
                {"penalty_sum", num(loop.penalty_sum)}, {"skipped_steps", loop.skipped_steps}, {"stop", loop.stop}}},
      {"early_stopping", p.early_stop ? json::parse(p.early_stop->state_json()) : json(nullptr)},
      {"loader", {{"epoch", ls.epoch}, {"position", ls.position}, {"seed", ls.seed}, {"num_samples", ls.num_samples}}},
      {"optimizer", {{"type", p.optimizer.type_name()}, {"step_count", p.optimizer.step_count()},
                     {"lr", num(p.optimizer.lr())}, {"momentum", num(p.optimizer.momentum())}, {"groups", groups}}},
      {"schedule", p.schedule ? json::parse(p.schedule->save_state()) : json(nullptr)},
      {"generators", gens},
      {"history", history},
      {"best", best},
      {"metric_value", metric_value ? num(*metric_value) : json(nullptr)},
      {"callbacks", callbacks},
      {"health", p.health ? json::parse(p.health->save_state()) : json(nullptr)},
      // what `descent eval`/`export --from latest|best` apply to raw inputs (null: no standardization)
      {"standardizer", p.standardizer && p.standardizer->num_features() > 0 ? json::parse(p.standardizer->to_json())
                                                                            : json(nullptr)},
      {"config", p.cfg.resolved_toml},
      {"manifest", p.manifest},
      {"time", utc_now()}};
  std::string path = store_.save(id, tensors, state.dump());
  last_save_ = std::chrono::steady_clock::now();
  store_.prune(opt_.keep_last, opt_.keep_best ? best_id_ : std::nullopt);
  return path;
}

LoopState Checkpointer::resume(const TrainerParts& p, std::vector<std::string>& messages, bool tidy) {
  std::vector<std::string> skipped;
  std::optional<io::LoadedCheckpoint> ck = store_.load_newest(&skipped);
  const std::vector<io::CheckpointId> ids = store_.list();
  for (const std::string& s : skipped) messages.push_back("warning: skipped " + s);
  if (!ck)
    throw Error(fmt::format("{}: no valid checkpoint to resume from ({} found{})", store_.dir(), ids.size(),
                            ids.empty() ? "; was [checkpoint] off, or did the run stop before its first one?" : ", all damaged"));
  // Damaged checkpoints newer than the one resumed from are moved aside, not deleted: they would
  // otherwise shadow the new ones this run writes, and a person may want to look at them.
  for (const io::CheckpointId& id : ids) {
    if (!tidy || !(ck->id < id)) continue;
    const std::string stem = (fs::path(store_.dir()) / id.name()).string();
    std::error_code ec;
    fs::rename(stem + ".json", stem + ".json.damaged", ec);
    fs::rename(stem + ".safetensors", stem + ".safetensors.damaged", ec);
  }
  const std::string file = (fs::path(store_.dir()) / (ck->id.name() + ".json")).string();
  json s = json::parse(ck->state_json);
  try {
    const std::string cfg_text = s.at("config").get<std::string>();
    if (cfg_text != p.cfg.resolved_toml)
      throw Error(fmt::format("{}: the config differs from the one this checkpoint was trained with ({}); resume needs the "
                              "same config", file, first_difference(cfg_text, p.cfg.resolved_toml)));
    nn::NamedTensors model_t, optim_t, best_t, health_t;
    for (auto& [name, t] : ck->tensors) {
      if (name.rfind("model.", 0) == 0) model_t.emplace_back(name.substr(6), t);
      else if (name.rfind("optimizer.", 0) == 0) optim_t.emplace_back(name.substr(10), t);
      else if (name.rfind("early_stopping.", 0) == 0) best_t.emplace_back(name.substr(15), t);
      else if (name.rfind("health.", 0) == 0) health_t.emplace_back(name.substr(7), t);
      else throw Error(fmt::format("{}: unexpected tensor '{}'", file, name));
    }
    io::load_state_dict(p.model, model_t, file);
    const json& o = s.at("optimizer");
    if (o.at("type").get<std::string>() != p.optimizer.type_name())
      throw Error(fmt::format("{}: checkpoint of a {} optimizer, the config builds {}", file, o.at("type").get<std::string>(),
                              p.optimizer.type_name()));
    p.optimizer.load_state(optim_t, o.at("step_count").get<int64_t>());
    p.optimizer.set_lr(num(o.at("lr")));
    const double mom = num(o.at("momentum"));
    if (!std::isnan(mom) && mom != p.optimizer.momentum()) p.optimizer.set_momentum(mom);
    if (p.schedule) {
      if (s.at("schedule").is_null()) throw Error(fmt::format("{}: checkpoint has no schedule state", file));
      p.schedule->load_state(s.at("schedule").dump());
    }
    std::vector<std::pair<std::string, Generator*>> gl;
    collect_generators(p.model, "", gl);
    for (const auto& [name, g] : gl) g->set_state(s.at("generators").at(name).get<std::vector<uint64_t>>());
    p.history.clear();
    for (const auto& m : s.at("history")) p.history.push_back(metrics_from(m));
    for (const auto& cb : p.callbacks)
      if (!cb->state_key().empty() && s.at("callbacks").contains(cb->state_key()))
        cb->load_state(s.at("callbacks").at(cb->state_key()).get<std::string>());
    if (s.at("best").is_object()) {
      best_id_ = io::CheckpointId::parse(s.at("best").at("name").get<std::string>());
      best_value_ = num(s.at("best").at("value"));
    }
    if (p.early_stop) {
      if (s.at("early_stopping").is_null()) throw Error(fmt::format("{}: checkpoint has no early-stopping state", file));
      p.early_stop->load_state_json(s.at("early_stopping").dump());
      // best_state keeps the model's state_dict order, as EarlyStopping wrote it
      nn::NamedTensors ordered;
      for (const auto& [name, t] : p.model.state_dict())
        for (const auto& [bn, bt] : best_t)
          if (bn == name) ordered.emplace_back(bn, bt);
      if (ordered.size() != best_t.size()) throw Error(fmt::format("{}: early-stopping weights do not match the model", file));
      p.early_stop->set_best_state(std::move(ordered));
    }
    if (s.at("manifest").is_object()) p.manifest = s.at("manifest");
    const json& l = s.at("loop");
    LoopState loop{.epoch = l.at("epoch").get<int64_t>(), .epoch_done = l.at("epoch_done").get<bool>(),
                   .step = l.at("step").get<int64_t>(), .loss_sum = num(l.at("loss_sum")),
                   .correct = num(l.at("correct")), .seen = l.at("seen").get<int64_t>(),
                   .penalty_sum = num(l.at("penalty_sum")), .skipped_steps = l.at("skipped_steps").get<int64_t>(),
                   .stop = l.at("stop").get<bool>()};
    if (s.contains("health") && !s.at("health").is_null()) {
      loop.health_state = s.at("health").dump();
      loop.health_tensors = std::move(health_t);
    }
    if (!loop.epoch_done) {
      const json& ld = s.at("loader");
      p.train_loader.restore({.epoch = ld.at("epoch").get<int64_t>(), .position = ld.at("position").get<int64_t>(),
                              .seed = ld.at("seed").get<uint64_t>(), .num_samples = ld.at("num_samples").get<int64_t>()});
    }
    resumed_from_ = file;
    return loop;
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: checkpoint state is incomplete ({})", file, e.what()));
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(file, 0) == 0) throw;
    throw Error(fmt::format("{}: cannot restore: {}", file, what));
  }
}

void truncate_jsonl(const std::string& path, const std::string& key, int64_t max) {
  std::ifstream in(path);
  if (!in) return;
  std::string line, kept;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;  // a line cut short by the crash
    if (j.contains(key) && j[key].is_number_integer() && j[key].get<int64_t>() > max) continue;
    kept += line + "\n";
  }
  in.close();
  io::write_file_atomic(path, kept);
}

// ---- signals --------------------------------------------------------------------------------

namespace {
volatile sig_atomic_t g_signal = 0;

extern "C" void on_stop_signal(int sig) {
  if (g_signal != 0) {  // the second signal: the user means it
    ::signal(sig, SIG_DFL);
    ::raise(sig);
    return;
  }
  g_signal = sig;
}
}  // namespace

StopOnSignal::StopOnSignal() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &old_int_);
  ::sigaction(SIGTERM, &sa, &old_term_);
}

StopOnSignal::~StopOnSignal() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
}

int StopOnSignal::pending() { return g_signal; }

}  // namespace descent::train

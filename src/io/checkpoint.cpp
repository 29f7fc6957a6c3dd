// Checkpoint files: <name>.safetensors (tensors) and <name>.json (everything else).
//
// The JSON file is the commit record. It is written only after the tensor file is durable, and it
// holds that file's size and SHA-256 plus a checksum of its own content (SHA-256 of the compact
// dump of the document without the "checksum" field; nlohmann's dump of parsed JSON reproduces
// the same text, doubles included). A checkpoint therefore verifies only when both files are
// complete and unchanged, whatever moment a crash or a SIGKILL hit the writer.
#include <algorithm>
#include <filesystem>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "descent/io.h"

namespace descent::io {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- [checkpoint] ---------------------------------------------------------------------------

CheckpointOptions parse_checkpoint_options(const Args& a, bool has_val) {
  CheckpointOptions o;
  o.every_steps = a.get_int("every_steps", 0);
  o.every_epochs = a.get_int("every_epochs", 1);
  o.min_seconds = a.get_double("min_seconds", 10.0);
  o.keep_last = a.get_int("keep_last", 3);
  o.keep_best = a.get_bool("keep_best", true);
  o.metric = a.get_string("metric", has_val ? "val_loss" : "train_loss");
  const std::string mode = a.get_string("mode", "auto");
  a.finish();
  const std::string& w = a.where().empty() ? std::string("[checkpoint]") : a.where();
  if (o.every_steps < 0) throw Error(fmt::format("{}: every_steps must be >= 0 (0 = off), got {}", w, o.every_steps));
  if (o.every_epochs < 0) throw Error(fmt::format("{}: every_epochs must be >= 0 (0 = off), got {}", w, o.every_epochs));
  if (!(o.min_seconds >= 0.0)) throw Error(fmt::format("{}: min_seconds must be >= 0, got {}", w, o.min_seconds));
  if (o.keep_last < 1) throw Error(fmt::format("{}: keep_last must be >= 1, got {}", w, o.keep_last));
  static const std::vector<std::string> kMetrics = {"train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"};
  if (std::find(kMetrics.begin(), kMetrics.end(), o.metric) == kMetrics.end())
    throw Error(fmt::format("{}: metric '{}' is not one of train_loss, train_acc, val_loss, val_acc, test_loss, test_acc",
                            w, o.metric));
  if (o.metric.rfind("val_", 0) == 0 && !has_val)
    throw Error(fmt::format("{}: metric '{}' needs a validation split (set [data] validation_split)", w, o.metric));
  if (mode == "auto") o.maximize = o.metric.size() >= 3 && o.metric.compare(o.metric.size() - 3, 3, "acc") == 0;
  else if (mode == "max") o.maximize = true;
  else if (mode == "min") o.maximize = false;
  else throw Error(fmt::format("{}: mode must be \"auto\", \"min\" or \"max\", got '{}'", w, mode));
  return o;
}

// ---- names ----------------------------------------------------------------------------------

std::string CheckpointId::name() const {
  return fmt::format("ckpt-s{:09d}-e{:04d}{}", step, epoch, epoch_end ? "-end" : "");
}

std::optional<CheckpointId> CheckpointId::parse(const std::string& stem) {
  static const std::regex kName(R"(ckpt-s(\d{9,18})-e(\d{4,9})(-end)?)");
  std::smatch m;
  if (!std::regex_match(stem, m, kName)) return std::nullopt;
  return CheckpointId{.step = std::stoll(m[1]), .epoch = std::stoll(m[2]), .epoch_end = m[3].matched};
}

bool CheckpointId::operator<(const CheckpointId& o) const {
  if (step != o.step) return step < o.step;
  if (epoch != o.epoch) return epoch < o.epoch;
  return !epoch_end && o.epoch_end;
}

// ---- the store ------------------------------------------------------------------------------

CheckpointStore::CheckpointStore(std::string dir) : dir_(std::move(dir)) {}

std::string CheckpointStore::save(const CheckpointId& id, const nn::NamedTensors& tensors, const std::string& state_json) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the checkpoint folder: {}", dir_, ec.message()));
  const std::string stem = (fs::path(dir_) / id.name()).string();
  json state;
  try {
    state = json::parse(state_json);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: checkpoint state is not valid JSON ({})", stem, e.what()));
  }
  std::string bytes = safetensors_bytes(tensors);
  json doc = {{"format", "descent-checkpoint"},
              {"version", 1},
              {"name", id.name()},
              {"step", id.step},
              {"epoch", id.epoch},
              {"epoch_end", id.epoch_end},
              {"tensors", {{"file", id.name() + ".safetensors"}, {"bytes", bytes.size()}, {"sha256", sha256_hex(bytes)}}},
              {"state", std::move(state)}};
  doc["checksum"] = sha256_hex(doc.dump());
  write_file_atomic(stem + ".safetensors", bytes);
  write_file_atomic(stem + ".json", doc.dump(1) + "\n");  // the commit: only now does the checkpoint exist
  return stem + ".json";
}

std::vector<CheckpointId> CheckpointStore::list() const {
  std::vector<CheckpointId> ids;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return ids;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const fs::path& p = entry.path();
    if (p.extension() != ".json") continue;
    if (auto id = CheckpointId::parse(p.stem().string())) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end(), [](const CheckpointId& a, const CheckpointId& b) { return b < a; });
  return ids;
}

LoadedCheckpoint CheckpointStore::load(const CheckpointId& id) const {
  const std::string json_path = (fs::path(dir_) / (id.name() + ".json")).string();
  try {
    return load_verified(id);
  } catch (const json::exception& e) {  // a field of the wrong type: damaged, or not written by us
    throw Error(fmt::format("{}: damaged checkpoint: malformed field ({})", json_path, e.what()));
  }
}

LoadedCheckpoint CheckpointStore::load_verified(const CheckpointId& id) const {
  const std::string stem = (fs::path(dir_) / id.name()).string();
  const std::string json_path = stem + ".json";
  json doc;
  try {
    doc = json::parse(read_file(json_path));
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: damaged checkpoint: not valid JSON ({})", json_path, e.what()));
  }
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != "descent-checkpoint" || !doc.contains("checksum") ||
      !doc["checksum"].is_string())
    throw Error(fmt::format("{}: not a descent checkpoint (missing format or checksum)", json_path));
  const std::string checksum = doc["checksum"].get<std::string>();
  doc.erase("checksum");
  if (sha256_hex(doc.dump()) != checksum)
    throw Error(fmt::format("{}: damaged checkpoint: its checksum does not match its content", json_path));
  if (doc.value("name", "") != id.name() || !doc.contains("state") || !doc.contains("tensors"))
    throw Error(fmt::format("{}: damaged checkpoint: name or fields do not match the file", json_path));
  const json& t = doc["tensors"];
  const std::string tensor_path = (fs::path(dir_) / t.value("file", "")).string();
  std::string bytes;
  try {
    bytes = read_file(tensor_path);
  } catch (const Error&) {
    throw Error(fmt::format("{}: damaged checkpoint: its tensor file {} is missing", json_path, tensor_path));
  }
  if (bytes.size() != t.value("bytes", uint64_t{0}))
    throw Error(fmt::format("{}: damaged checkpoint: {} has {} bytes, expected {} (truncated?)", json_path, tensor_path,
                            bytes.size(), t.value("bytes", uint64_t{0})));
  if (sha256_hex(bytes) != t.value("sha256", ""))
    throw Error(fmt::format("{}: damaged checkpoint: SHA-256 of {} does not match", json_path, tensor_path));
  LoadedCheckpoint out;
  out.id = id;
  out.tensors = parse_safetensors(bytes, tensor_path).tensors;
  out.state_json = doc["state"].dump();
  return out;
}

std::optional<LoadedCheckpoint> CheckpointStore::load_newest(std::vector<std::string>* skipped) const {
  for (const CheckpointId& id : list()) {
    try {
      return load(id);
    } catch (const Error& e) {
      if (skipped) skipped->push_back(e.what());
    }
  }
  return std::nullopt;
}

void CheckpointStore::prune(int64_t keep_last, const std::optional<CheckpointId>& also_keep) {
  std::vector<CheckpointId> ids = list();
  std::vector<std::string> keep;
  for (size_t i = 0; i < ids.size(); ++i)
    if (static_cast<int64_t>(i) < keep_last || (also_keep && !(ids[i] < *also_keep) && !(*also_keep < ids[i])))
      keep.push_back(ids[i].name());
  std::error_code ec;
  for (const CheckpointId& id : ids) {
    if (std::find(keep.begin(), keep.end(), id.name()) != keep.end()) continue;
    const fs::path stem = fs::path(dir_) / id.name();
    fs::remove(stem.string() + ".json", ec);  // un-commit first, then the data
    fs::remove(stem.string() + ".safetensors", ec);
  }
  // Leftovers of writers killed mid-write: temporary files, and tensor files never committed.
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string file = entry.path().filename().string();
    const bool tmp = file.find(".tmp.") != std::string::npos;
    bool orphan = false;
    if (entry.path().extension() == ".safetensors" && CheckpointId::parse(entry.path().stem().string()))
      orphan = !fs::exists(fs::path(dir_) / (entry.path().stem().string() + ".json"));
    if (tmp || orphan) fs::remove(entry.path(), ec);
  }
}

}  // namespace descent::io

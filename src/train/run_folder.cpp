#include "train/run_folder.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include "descent/error.h"

namespace descent::train {

namespace fs = std::filesystem;

RunFolder::RunFolder(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create run folder: {}", dir, ec.message()));
}

void RunFolder::write_file(const std::string& name, const std::string& text) const {
  if (!active()) return;
  fs::path final_path = fs::path(dir_) / name;
  fs::path tmp = final_path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("{}: cannot write", tmp.string()));
    out << text;
    if (!out.flush()) throw Error(fmt::format("{}: write failed", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, final_path, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename into place: {}", final_path.string(), ec.message()));
}

void RunFolder::append_jsonl(const std::string& name, const nlohmann::json& j) {
  if (!active()) return;
  std::ofstream& out = name == "metrics.jsonl" ? metrics_ : steps_;
  if (!out.is_open()) {
    out.open(fs::path(dir_) / name, std::ios::app);
    if (!out) throw Error(fmt::format("{}/{}: cannot open for appending", dir_, name));
  }
  out << j.dump() << '\n';
  out.flush();
}

void RunFolder::write_manifest(const nlohmann::json& manifest) const { write_file("manifest.json", manifest.dump(2) + "\n"); }

std::string utc_now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace descent::train

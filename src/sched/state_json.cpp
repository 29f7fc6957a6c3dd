// Schedule state <-> JSON, exact and strict: a damaged checkpoint gives a message naming the
// field instead of a schedule that silently restarts.
#include "sched/state_json.h"

#include <fmt/format.h>

#include <cmath>

#include "descent/error.h"
#include "sched/text.h"

namespace descent::sched::detail {
namespace {

constexpr std::string_view kFormat = "descent.schedule_state";
constexpr int kVersion = 1;

const nlohmann::json& field(const nlohmann::json& obj, const char* key, const std::string& where,
                            const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) throw Error(fmt::format("{}: missing field '{}{}'", where, path, key));
  return *it;
}

std::int64_t read_count(const nlohmann::json& obj, const char* key, const std::string& where,
                        const std::string& path = "") {
  const auto& v = field(obj, key, where, path);
  if (!v.is_number_integer()) throw Error(fmt::format("{}: field '{}{}' must be an integer", where, path, key));
  const auto n = v.get<std::int64_t>();
  if (n < 0) throw Error(fmt::format("{}: field '{}{}' must be >= 0, got {}", where, path, key, n));
  return n;
}

double read_double(const nlohmann::json& obj, const char* key, const std::string& where,
                   const std::string& path = "") {
  const auto& v = field(obj, key, where, path);
  std::optional<double> x;
  if (v.is_string()) x = parse_double(v.get_ref<const std::string&>());
  if (!x) throw Error(fmt::format("{}: field '{}{}' must be a number written as a string, got {}", where, path,
                                  key, v.dump()));
  return *x;
}

}  // namespace

nlohmann::json state_to_json(const ScheduleState& s) {
  return {{"format", kFormat},
          {"version", kVersion},
          {"step", s.step},
          {"last_lr", format_double(s.last_lr)},
          {"plateau",
           {{"best", format_double(s.plateau.best)},
            {"num_bad_epochs", s.plateau.num_bad_epochs},
            {"cooldown_counter", s.plateau.cooldown_counter},
            {"multiplier", format_double(s.plateau.multiplier)}}}};
}

ScheduleState state_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(fmt::format("{}: expected a JSON object, got {}", where, j.type_name()));
  auto format = j.find("format");
  if (format == j.end() || *format != kFormat)
    throw Error(fmt::format("{}: not a schedule state (field 'format' is not \"{}\")", where, kFormat));
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer() || version->get<int>() != kVersion)
    throw Error(fmt::format("{}: unsupported version {} (expected {})", where,
                            version == j.end() ? "none" : version->dump(), kVersion));
  ScheduleState s;
  s.step = read_count(j, "step", where);
  s.last_lr = read_double(j, "last_lr", where);
  const auto& p = field(j, "plateau", where, "");
  if (!p.is_object()) throw Error(fmt::format("{}: field 'plateau' must be an object", where));
  s.plateau.best = read_double(p, "best", where, "plateau.");
  s.plateau.num_bad_epochs = read_count(p, "num_bad_epochs", where, "plateau.");
  s.plateau.cooldown_counter = read_count(p, "cooldown_counter", where, "plateau.");
  s.plateau.multiplier = read_double(p, "multiplier", where, "plateau.");
  if (!(s.plateau.multiplier > 0.0 && s.plateau.multiplier <= 1.0))
    throw Error(fmt::format("{}: field 'plateau.multiplier' must be in (0, 1], got {}", where,
                            s.plateau.multiplier));
  return s;
}

}  // namespace descent::sched::detail

namespace descent::sched {

std::string Schedule::save_state() const { return detail::state_to_json(state_).dump(); }

void Schedule::load_state(const std::string& json_text) {
  const std::string where = "schedule state";
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw Error(where + ": not valid JSON");
  state_ = detail::state_from_json(j, where);
}

}  // namespace descent::sched

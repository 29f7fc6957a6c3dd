// sched/check.h — the checks on schedule options, shared by the TOML parser (which names the
// config file) and the Schedule constructor (which C++ callers reach directly), so that both
// report the same one-line message with the config's key names.
#pragma once
#include <array>
#include <string>
#include <string_view>
#include <variant>

#include "descent/sched.h"

namespace descent::sched::detail {

/// Config names of the main schedules (`type = "..."`), in MainSchedule's alternative order.
inline constexpr std::array<std::string_view, 9> kMainTypeNames = {
    "constant", "step", "multistep", "exponential", "polynomial",
    "linear", "cosine", "cosine_warm_restarts", "one_cycle"};
static_assert(kMainTypeNames.size() == std::variant_size_v<MainSchedule>,
              "every main schedule needs its config name");

/// The config name of the schedule `s` holds.
inline std::string_view main_type_name(const MainSchedule& s) { return kMainTypeNames[s.index()]; }

/// Throws descent::Error("{where}: [schedule.<part>] '<key>' must be ..., got ...") on the first
/// bad option. T_max / total_steps of 0 pass: they mean "the rest of the run".
void check_spec(const ScheduleSpec& spec, const std::string& where);

}  // namespace descent::sched::detail

// sched/state_json.h — ScheduleState as nlohmann::json, for code that embeds it in a larger JSON
// document (the trainer's checkpoint). Schedule::save_state/load_state wrap these as text.
//
// Doubles are stored as strings of their shortest round-trip decimal ("0.1", "inf"): JSON
// numbers cannot hold the ±inf of a fresh plateau's best value, and strings keep every double
// exact whatever JSON library reads them.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "descent/sched.h"

namespace descent::sched::detail {

/// {"format": "descent.schedule_state", "version": 1, "step": ..., "last_lr": "...", "plateau": {...}}
nlohmann::json state_to_json(const ScheduleState& s);
/// Reads state_to_json's output; descent::Error("{where}: ...") naming the bad field.
ScheduleState state_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace descent::sched::detail

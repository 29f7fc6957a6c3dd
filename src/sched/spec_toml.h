// sched/spec_toml.h — reads the config's [schedule] table into a ScheduleSpec, for code that
// already holds it as a toml::table. The format is documented in descent/sched.h above
// parse_schedule_spec(text, where), which wraps this one.
#pragma once
#include <string>
#include <toml++/toml.h>

#include "descent/sched.h"

namespace descent::sched {

/// Parses [schedule]; descent::Error("{where}: [schedule.main] unknown key 'gama' (did you mean
/// 'gamma'?)") on an unknown key, a wrong type, a missing required key or a value out of range.
ScheduleSpec parse_schedule_spec(const toml::table& schedule_table, const std::string& where);

}  // namespace descent::sched

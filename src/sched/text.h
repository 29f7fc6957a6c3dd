// sched/text.h — small text helpers of the schedule library: exact double formatting for state
// and CSV, and the "did you mean" suggestion for config keys.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace descent::sched::detail {

/// Shortest decimal text that parses back to the same double ("0.1", "1e-05", "inf", "nan").
std::string format_double(double x);
/// Parses all of `text` as a double (accepts "inf", "-inf", "nan"); nullopt if anything is left.
std::optional<double> parse_double(std::string_view text);
/// The candidate closest to `word` (case-insensitive edit distance), if it is a plausible typo.
std::optional<std::string> closest(std::string_view word, const std::vector<std::string>& candidates);
/// "a, b, c".
std::string join(const std::vector<std::string>& words);

}  // namespace descent::sched::detail

// Names of the data enums, as written in configs and messages. Each table is guarded by a
// static_assert on the enum's Count, so a value cannot be added without its name.
#include <fmt/format.h>

#include <iterator>

#include "descent/data.h"

namespace descent::data {
namespace {

constexpr const char* kTasks[] = {"classification", "binary", "regression"};
constexpr const char* kMissing[] = {"error", "mean", "constant"};
constexpr const char* kEncodings[] = {"onehot", "label"};
constexpr const char* kScalings[] = {"none", "standard", "minmax"};
static_assert(std::size(kTasks) == static_cast<size_t>(Task::Count));
static_assert(std::size(kMissing) == static_cast<size_t>(Missing::Count));
static_assert(std::size(kEncodings) == static_cast<size_t>(Encoding::Count));
static_assert(std::size(kScalings) == static_cast<size_t>(Scaling::Count));

template <class E, size_t N>
E from_name(const char* const (&names)[N], const std::string& name, const char* what) {
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) return static_cast<E>(i);
  throw Error(fmt::format("data: unknown {} \"{}\" (choose one of: {})", what, name, fmt::join(names, ", ")));
}

}  // namespace

const char* task_name(Task t) { return kTasks[static_cast<size_t>(t)]; }
const char* missing_name(Missing m) { return kMissing[static_cast<size_t>(m)]; }
const char* encoding_name(Encoding e) { return kEncodings[static_cast<size_t>(e)]; }
const char* scaling_name(Scaling s) { return kScalings[static_cast<size_t>(s)]; }

Task task_from_name(const std::string& name) { return from_name<Task>(kTasks, name, "task"); }
Missing missing_from_name(const std::string& name) { return from_name<Missing>(kMissing, name, "missing"); }
Encoding encoding_from_name(const std::string& name) { return from_name<Encoding>(kEncodings, name, "encoding"); }
Scaling scaling_from_name(const std::string& name) { return from_name<Scaling>(kScalings, name, "standardize"); }

}  // namespace descent::data

// descent/error.h — the one exception type of descent.
//
// Every user-facing failure (bad config key, corrupt data file, shape mismatch, damaged
// checkpoint) throws descent::Error with a one-line message naming the file, field or shapes
// involved. The CLI maps it to exit code 2; anything else that escapes is an internal error (1).
//
//   throw descent::Error(fmt::format("{}: field 'lr' must be positive, got {}", path, lr));
#pragma once
#include <stdexcept>
#include <string>

namespace descent {

/// The exception for bad input and misuse; its message is one line for the user.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace descent

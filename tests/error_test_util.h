// Shared by the unit tests: the message of the descent::Error a statement throws, and the
// EXPECT_ERROR_HAS check that it names what is wrong.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "descent/error.h"

namespace descent_test {

/// The message of the descent::Error that f throws, or "<no error>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const descent::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace descent_test

/// Expects `stmt` to throw a descent::Error whose message contains `part`.
#define EXPECT_ERROR_HAS(stmt, part)                                          \
  do {                                                                        \
    std::string msg_ = descent_test::error_of([&] { stmt; });                 \
    EXPECT_NE(msg_.find(part), std::string::npos) << "message: " << msg_;     \
  } while (0)

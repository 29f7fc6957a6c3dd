// hpo/storage_sqlite.cpp — the study database on SQLite's C API.
#include <fmt/format.h>
#include <sqlite3.h>

#include <cmath>
#include <limits>

#include "descent/error.h"
#include "hpo/storage.h"

namespace descent::hpo {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials(
  number INTEGER PRIMARY KEY, state TEXT NOT NULL, value REAL, message TEXT NOT NULL DEFAULT '',
  started REAL NOT NULL DEFAULT 0, finished REAL NOT NULL DEFAULT 0, requeued_as INTEGER);
CREATE TABLE IF NOT EXISTS params(
  trial INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL, value NOT NULL, PRIMARY KEY(trial, name));
CREATE TABLE IF NOT EXISTS intermediate(
  trial INTEGER NOT NULL, step INTEGER NOT NULL, value REAL, PRIMARY KEY(trial, step));
CREATE TABLE IF NOT EXISTS rungs(
  trial INTEGER NOT NULL, rung INTEGER NOT NULL, value REAL, PRIMARY KEY(trial, rung));
)sql";

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, double v) {
    if (std::isnan(v))
      sqlite3_bind_null(stmt_, i);
    else
      sqlite3_bind_double(stmt_, i, v);
  }
  void bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_null(int i) { sqlite3_bind_null(stmt_, i); }
  int step() { return sqlite3_step(stmt_); }
  double real(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL ? std::numeric_limits<double>::quiet_NaN()
                                                          : sqlite3_column_double(stmt_, col);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

Storage::Storage(const std::filesystem::path& file) : file_(file.string()) {
  if (sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(fmt::format("{}: cannot open the study database: {}", file_, why));
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    exec(kSchema);
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

Storage::~Storage() { sqlite3_close(db_); }

void Storage::fail(std::string_view what) const {
  throw Error(fmt::format("{}: {}: {}", file_, what, sqlite3_errmsg(db_)));
}

void Storage::exec(const char* sql) const {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    throw Error(fmt::format("{}: not a usable study database ({})", file_, why));
  }
}

std::optional<std::string> Storage::meta(std::string_view key) const {
  Statement s(db_, "SELECT value FROM meta WHERE key = ?");
  if (!s.ok()) fail("reading meta");
  s.bind(1, key);
  if (s.step() == SQLITE_ROW) return s.text(0);
  return std::nullopt;
}

void Storage::set_meta(std::string_view key, std::string_view value) {
  Statement s(db_, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!s.ok()) fail("writing meta");
  s.bind(1, key);
  s.bind(2, value);
  if (s.step() != SQLITE_DONE) fail("writing meta");
}

int Storage::add_trial(const Params& params, TrialState state) {
  exec("BEGIN IMMEDIATE");
  try {
    Statement next(db_, "SELECT COALESCE(MAX(number) + 1, 0) FROM trials");
    if (!next.ok() || next.step() != SQLITE_ROW) fail("numbering a trial");
    const auto number = next.integer(0);
    Statement t(db_, "INSERT INTO trials(number, state) VALUES(?, ?)");
    t.bind(1, number);
    t.bind(2, to_string(state));
    if (!t.ok() || t.step() != SQLITE_DONE) fail("adding a trial");
    for (const auto& [name, value] : params) {
      Statement p(db_, "INSERT INTO params(trial, name, kind, value) VALUES(?, ?, ?, ?)");
      if (!p.ok()) fail("adding parameters");
      p.bind(1, number);
      p.bind(2, name);
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::int64_t>)
              p.bind(3, "int"), p.bind(4, v);
            else if constexpr (std::is_same_v<T, double>)
              p.bind(3, "float"), p.bind(4, v);
            else if constexpr (std::is_same_v<T, bool>)
              p.bind(3, "bool"), p.bind(4, std::int64_t{v});
            else
              p.bind(3, "string"), p.bind(4, std::string_view(v));
          },
          value);
      if (p.step() != SQLITE_DONE) fail("adding parameters");
    }
    exec("COMMIT");
    return static_cast<int>(number);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void Storage::update_trial(const Trial& trial) {
  Statement s(db_,
              "UPDATE trials SET state = ?, value = ?, message = ?, started = ?, finished = ?, requeued_as = ? "
              "WHERE number = ?");
  if (!s.ok()) fail("updating a trial");
  s.bind(1, to_string(trial.state));
  if (trial.value)
    s.bind(2, *trial.value);
  else
    s.bind_null(2);
  s.bind(3, trial.message);
  s.bind(4, trial.started);
  s.bind(5, trial.finished);
  if (trial.requeued_as)
    s.bind(6, std::int64_t{*trial.requeued_as});
  else
    s.bind_null(6);
  s.bind(7, std::int64_t{trial.number});
  if (s.step() != SQLITE_DONE) fail("updating a trial");
}

void Storage::add_intermediate(int number, int step, double value) {
  Statement s(db_, "INSERT OR REPLACE INTO intermediate(trial, step, value) VALUES(?, ?, ?)");
  if (!s.ok()) fail("recording a metric");
  s.bind(1, std::int64_t{number});
  s.bind(2, std::int64_t{step});
  s.bind(3, value);
  if (s.step() != SQLITE_DONE) fail("recording a metric");
}

void Storage::add_rung(int number, int rung, double value) {
  Statement s(db_, "INSERT OR REPLACE INTO rungs(trial, rung, value) VALUES(?, ?, ?)");
  if (!s.ok()) fail("recording a rung");
  s.bind(1, std::int64_t{number});
  s.bind(2, std::int64_t{rung});
  s.bind(3, value);
  if (s.step() != SQLITE_DONE) fail("recording a rung");
}

std::vector<Trial> Storage::load() const {
  std::vector<Trial> trials;
  Statement t(db_, "SELECT number, state, value, message, started, finished, requeued_as FROM trials ORDER BY number");
  if (!t.ok()) fail("reading trials");
  while (t.step() == SQLITE_ROW) {
    Trial trial;
    trial.number = static_cast<int>(t.integer(0));
    trial.state = parse_trial_state(t.text(1));
    if (!t.is_null(2)) trial.value = t.real(2);
    trial.message = t.text(3);
    trial.started = t.real(4);
    trial.finished = t.real(5);
    if (!t.is_null(6)) trial.requeued_as = static_cast<int>(t.integer(6));
    if (trial.number != static_cast<int>(trials.size())) fail("trial numbers are not contiguous");
    trials.push_back(std::move(trial));
  }
  Statement p(db_, "SELECT trial, name, kind, value FROM params");
  if (!p.ok()) fail("reading parameters");
  while (p.step() == SQLITE_ROW) {
    const auto n = static_cast<std::size_t>(p.integer(0));
    if (n >= trials.size()) fail("parameters of an unknown trial");
    const std::string kind = p.text(2);
    Value v;
    if (kind == "int")
      v = p.integer(3);
    else if (kind == "float")
      v = p.real(3);
    else if (kind == "bool")
      v = p.integer(3) != 0;
    else
      v = p.text(3);
    trials[n].params[p.text(1)] = std::move(v);
  }
  Statement i(db_, "SELECT trial, step, value FROM intermediate");
  if (!i.ok()) fail("reading metrics");
  while (i.step() == SQLITE_ROW) {
    const auto n = static_cast<std::size_t>(i.integer(0));
    if (n < trials.size()) trials[n].intermediate[static_cast<int>(i.integer(1))] = i.real(2);
  }
  Statement r(db_, "SELECT trial, rung, value FROM rungs ORDER BY trial, rung");
  if (!r.ok()) fail("reading rungs");
  while (r.step() == SQLITE_ROW) {
    const auto n = static_cast<std::size_t>(r.integer(0));
    if (n < trials.size()) trials[n].rungs.push_back(r.real(2));
  }
  return trials;
}

}  // namespace descent::hpo

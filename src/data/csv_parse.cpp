#include "data/csv_parse.h"

#include <fmt/format.h>

#include "descent/error.h"

namespace descent::data {

char parse_delimiter(const std::string& spec) {
  if (spec == "whitespace" || spec == " ") return '\0';
  if (spec == "\t" || spec == "tab" || spec == "\\t") return '\t';
  if (spec.size() == 1 && spec[0] != '"' && spec[0] != '\n' && spec[0] != '\r') return spec[0];
  throw Error(fmt::format("data: delimiter must be one character, \"tab\" or \"whitespace\", got \"{}\"", spec));
}

namespace {

// A cursor over the text that knows its line number.
class Scanner {
 public:
  Scanner(const std::string& text, const std::string& path, const ParseOptions& o) : s_(text), path_(path), o_(o) {
    if (s_.compare(0, 3, "\xEF\xBB\xBF") == 0) i_ = 3;  // UTF-8 byte order mark (Excel writes one)
  }

  bool at_end() const { return i_ >= s_.size(); }
  int64_t line() const { return line_; }

  void skip_line() {
    while (!at_end() && s_[i_] != '\n') ++i_;
    if (!at_end()) ++i_;
    ++line_;
  }

  // Reads one record into `fields`; false at the end of the text. Blank lines are skipped.
  bool record(std::vector<std::string>& fields, int64_t& start_line) {
    fields.clear();
    for (;;) {
      if (at_end()) return false;
      size_t j = i_;
      while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t' || s_[j] == '\r')) ++j;
      if (j < s_.size() && s_[j] != '\n') break;
      i_ = j;
      skip_line();  // blank (or blanks-only) line
    }
    start_line = line_;
    if (o_.delimiter == '\0') {
      whitespace_record(fields);
    } else {
      delimited_record(fields);
    }
    return true;
  }

 private:
  [[noreturn]] void fail(size_t column, const std::string& what) const {
    throw Error(fmt::format("{}: row {}, column {}: {}", path_, line_, column, what));
  }

  bool line_end() const { return at_end() || s_[i_] == '\n' || (s_[i_] == '\r' && (i_ + 1 == s_.size() || s_[i_ + 1] == '\n')); }

  void consume_line_end() {
    if (!at_end() && s_[i_] == '\r') ++i_;
    if (!at_end() && s_[i_] == '\n') ++i_;
    ++line_;
  }

  // The content of a quoted field; i_ is on the opening quote. Newlines inside count as lines.
  std::string quoted(size_t column) {
    const int64_t open_line = line_;
    std::string out;
    ++i_;
    for (;;) {
      if (at_end()) {
        throw Error(fmt::format("{}: row {}, column {}: quoted field never closed", path_, open_line, column));
      }
      char ch = s_[i_++];
      if (ch == o_.quote) {
        if (!at_end() && s_[i_] == o_.quote) {
          out += o_.quote;  // "" is a literal quote
          ++i_;
          continue;
        }
        return out;
      }
      if (ch == '\n') ++line_;
      out += ch;
    }
  }

  void delimited_record(std::vector<std::string>& fields) {
    for (;;) {
      const size_t column = fields.size() + 1;
      std::string field;
      size_t j = i_;
      while (j < s_.size() && s_[j] == ' ') ++j;  // spaces before an opening quote
      if (j < s_.size() && s_[j] == o_.quote) {
        i_ = j;
        field = quoted(column);
        while (!at_end() && s_[i_] == ' ') ++i_;
        if (!line_end() && s_[i_] != o_.delimiter) {
          fail(column, fmt::format("unexpected character '{}' after a closing quote", s_[i_]));
        }
      } else {
        while (!line_end() && s_[i_] != o_.delimiter) field += s_[i_++];
      }
      fields.push_back(std::move(field));
      if (line_end()) {
        consume_line_end();
        return;
      }
      ++i_;  // the delimiter
    }
  }

  void whitespace_record(std::vector<std::string>& fields) {
    auto blank = [&] { return !at_end() && (s_[i_] == ' ' || s_[i_] == '\t'); };
    for (;;) {
      while (blank()) ++i_;
      if (line_end()) {
        consume_line_end();
        return;
      }
      const size_t column = fields.size() + 1;
      if (s_[i_] == o_.quote) {
        fields.push_back(quoted(column));
        if (!line_end() && !blank()) fail(column, fmt::format("unexpected character '{}' after a closing quote", s_[i_]));
      } else {
        std::string field;
        while (!line_end() && !blank()) field += s_[i_++];
        fields.push_back(std::move(field));
      }
    }
  }

  const std::string& s_;
  const std::string& path_;
  const ParseOptions& o_;
  size_t i_ = 0;
  int64_t line_ = 1;
};

}  // namespace

Table parse_table(const std::string& text, const std::string& path, const ParseOptions& options) {
  if (options.skip_rows < 0) throw Error(fmt::format("{}: skip_rows must be non-negative, got {}", path, options.skip_rows));
  Scanner sc(text, path, options);
  for (int64_t k = 0; k < options.skip_rows && !sc.at_end(); ++k) sc.skip_line();
  Table t;
  std::vector<std::string> fields;
  int64_t line = 0, first_line = 0;
  if (options.header) {
    if (!sc.record(t.header, line)) throw Error(fmt::format("{}: no header row (the file is empty)", path));
    t.columns = static_cast<int64_t>(t.header.size());
    first_line = line;
  }
  while (sc.record(fields, line)) {
    const auto n = static_cast<int64_t>(fields.size());
    if (t.columns == 0) {
      t.columns = n;
      first_line = line;
    }
    if (n != t.columns) {
      const char* what = n < t.columns ? "missing field" : "extra field";
      throw Error(fmt::format("{}: row {}, column {}: {} (the row has {} fields, row {} has {})", path, line,
                              std::min(n, t.columns) + 1, what, n, first_line, t.columns));
    }
    for (auto& f : fields) t.cells.push_back(std::move(f));
    t.row_line.push_back(line);
  }
  if (t.rows() == 0) throw Error(fmt::format("{}: no data rows", path));
  return t;
}

}  // namespace descent::data

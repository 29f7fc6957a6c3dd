// Internal: splitting CSV/TSV text into fields (RFC 4180 plus the variants found in the wild).
//
// Why our own parser: Debian's two C/C++ CSV libraries do not fit. libcsv (C, last upstream
// release 2013) has a callback API that reports only byte offsets on error and cannot treat a
// run of blanks as one delimiter; fast-cpp-csv-parser fixes the column count and types at
// compile time. What we need is small: quoted fields (with "" escapes, delimiters and newlines
// inside), LF or CRLF endings, a UTF-8 BOM, blank lines skipped, whitespace-run delimiters, and
// the row and column of every error.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace descent::data {

/// Fields of a delimited text file, row-major, every row with the same field count.
struct Table {
  std::vector<std::string> header;   // empty when the file has none
  std::vector<std::string> cells;    // rows * columns fields
  std::vector<int64_t> row_line;     // 1-based line number where each row starts (for messages)
  int64_t columns = 0;
  int64_t rows() const { return static_cast<int64_t>(row_line.size()); }
  const std::string& at(int64_t r, int64_t c) const { return cells[static_cast<size_t>(r * columns + c)]; }
};

/// How to split the text.
struct ParseOptions {
  char delimiter = ',';        // '\0' = runs of spaces and tabs
  char quote = '"';
  bool header = true;
  int64_t skip_rows = 0;       // physical lines skipped before the header / first row
};

/// "," -> ',', "\t" / "tab" -> '\t', "whitespace" / " " -> '\0' (runs of blanks); throws otherwise.
char parse_delimiter(const std::string& spec);

/// Splits `text` (the content of `path`, used in messages) into a Table; throws descent::Error
/// naming path, row (= line number in the file) and column for an unclosed quote, a character
/// after a closing quote, and a row whose field count differs from the first row's.
Table parse_table(const std::string& text, const std::string& path, const ParseOptions& options);

}  // namespace descent::data

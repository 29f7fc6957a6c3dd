// From a parsed table to a Dataset: column roles, number parsing, categories, missing values and
// labels. The parsing of the text itself is in csv_parse.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "data/byte_source.h"
#include "data/csv_parse.h"
#include "descent/data.h"

namespace descent::data {
namespace {

// Past this a "class index" is surely not one (it would make a model with that many outputs).
constexpr int64_t kMaxIntegerClass = 1 << 20;

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::optional<double> parse_number(const std::string& s) {
  double v = 0.0;
  const char* first = s.data();
  const char* last = s.data() + s.size();
  if (first != last && *first == '+') ++first;  // from_chars rejects a leading '+'
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (ec != std::errc() || ptr != last || first == last) return std::nullopt;
  return v;
}

// A non-negative integer written as a number ("3", "3.0"), for integer class labels.
std::optional<int64_t> parse_class_index(const std::string& s) {
  auto v = parse_number(s);
  if (!v || !std::isfinite(*v) || *v < 0 || *v != std::floor(*v) || *v >= static_cast<double>(kMaxIntegerClass)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(*v);
}

// Everything the encoding steps need to name a cell in an error.
struct Where {
  const std::string& path;
  const Table& t;
  std::string column(int64_t c) const {
    if (!t.header.empty()) return fmt::format("column {} ('{}')", c + 1, t.header[static_cast<size_t>(c)]);
    return fmt::format("column {}", c + 1);
  }
  [[noreturn]] void fail(int64_t r, int64_t c, const std::string& what) const {
    throw Error(fmt::format("{}: row {}, {}: {}", path, t.row_line[static_cast<size_t>(r)], column(c), what));
  }
};

// The column `spec` names: a header name, else a 0-based index (negative from the end).
int64_t resolve_column(const std::string& spec, const Table& t, const std::string& path, const char* role) {
  for (size_t c = 0; c < t.header.size(); ++c)
    if (t.header[c] == spec) return static_cast<int64_t>(c);
  int64_t index = 0;
  auto [ptr, ec] = std::from_chars(spec.data(), spec.data() + spec.size(), index);
  if (ec == std::errc() && ptr == spec.data() + spec.size() && !spec.empty()) {
    int64_t c = index < 0 ? t.columns + index : index;
    if (c < 0 || c >= t.columns) {
      throw Error(fmt::format("{}: {} column index {} is outside the {} columns (0-based; negative counts from the end)",
                              path, role, index, t.columns));
    }
    return c;
  }
  if (t.header.empty()) {
    throw Error(fmt::format("{}: {} column '{}' is not an index and the file has no header to name it", path, role, spec));
  }
  throw Error(fmt::format("{}: no {} column '{}' (columns: {})", path, role, spec, fmt::join(t.header, ", ")));
}

bool is_missing(const std::string& v, const CsvOptions& o) {
  return v.empty() || std::find(o.missing_markers.begin(), o.missing_markers.end(), v) != o.missing_markers.end();
}

// A finite number, or the reason it is not one.
double number_at(const Where& w, int64_t r, int64_t c, const std::string& v, const char* hint) {
  auto x = parse_number(v);
  if (!x) w.fail(r, c, fmt::format("'{}' is not a number{}", v, hint));
  if (!std::isfinite(*x)) w.fail(r, c, fmt::format("'{}' is not a finite number", v));
  return *x;
}

std::string column_name(const Table& t, int64_t c) {
  return t.header.empty() ? fmt::format("c{}", c) : t.header[static_cast<size_t>(c)];
}

// Class index of every row from the label column, filling class_names when they are not given.
std::vector<int64_t> encode_labels(const Where& w, int64_t col, const CsvOptions& o, std::vector<std::string>& names) {
  const Table& t = w.t;
  const Task task = o.task;
  std::vector<std::string> labels(static_cast<size_t>(t.rows()));
  for (int64_t r = 0; r < t.rows(); ++r) {
    labels[static_cast<size_t>(r)] = trim(t.at(r, col));
    if (is_missing(labels[static_cast<size_t>(r)], o)) w.fail(r, col, fmt::format("missing label '{}'", labels[static_cast<size_t>(r)]));
  }
  std::vector<int64_t> y(labels.size());
  if (names.empty()) {
    bool integers = std::all_of(labels.begin(), labels.end(), [](const std::string& s) { return parse_class_index(s).has_value(); });
    if (integers) {
      int64_t top = 0;
      for (size_t i = 0; i < labels.size(); ++i) top = std::max(top, y[i] = *parse_class_index(labels[i]));
      const int64_t k = task == Task::Binary ? 2 : top + 1;
      if (task == Task::Binary && top > 1) {
        auto at = std::find(y.begin(), y.end(), top) - y.begin();
        w.fail(at, col, fmt::format("binary label {} is not 0 or 1", top));
      }
      for (int64_t c = 0; c < k; ++c) names.push_back(std::to_string(c));
      return y;
    }
    std::set<std::string> distinct(labels.begin(), labels.end());
    names.assign(distinct.begin(), distinct.end());
    if (task == Task::Binary && names.size() != 2) {
      throw Error(fmt::format("{}: {}: a binary task needs 2 classes, found {} ({})", w.path, w.column(col),
                              names.size(), fmt::join(names, ", ")));
    }
  }
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < names.size(); ++c) index.emplace(names[c], static_cast<int64_t>(c));
  for (size_t i = 0; i < labels.size(); ++i) {
    auto it = index.find(labels[i]);
    if (it != index.end()) {
      y[i] = it->second;
      continue;
    }
    // Not a name: a 0-based class index ("2", or "2.0" from a float-minded tool) is accepted too.
    auto k = parse_class_index(labels[i]);
    if (!k || *k >= static_cast<int64_t>(names.size())) {
      w.fail(static_cast<int64_t>(i), col,
             fmt::format("label '{}' is not one of the {} classes ({})", labels[i], names.size(), fmt::join(names, ", ")));
    }
    y[i] = *k;
  }
  return y;
}

}  // namespace

Dataset load_csv(const std::string& path, const CsvOptions& options, const std::string& targets_path,
                 const Dataset* like) {
  const ParseOptions po{.delimiter = parse_delimiter(options.delimiter), .header = options.header,
                        .skip_rows = options.skip_rows};
  Table t = parse_table(read_all(path), path, po);
  if (!options.column_names.empty()) {
    if (options.header) throw Error(fmt::format("{}: column_names are for files without a header row", path));
    if (static_cast<int64_t>(options.column_names.size()) != t.columns) {
      throw Error(fmt::format("{}: {} column_names for {} columns", path, options.column_names.size(), t.columns));
    }
    t.header = options.column_names;
  }
  const Where w{path, t};

  // Column roles.
  std::optional<Table> tt;
  std::vector<int64_t> target_cols;
  if (!targets_path.empty()) {
    tt = parse_table(read_all(targets_path), targets_path, po);
    if (tt->rows() != t.rows()) {
      throw Error(fmt::format("{} has {} rows but {} has {}", targets_path, tt->rows(), path, t.rows()));
    }
    for (int64_t c = 0; c < tt->columns; ++c) target_cols.push_back(c);
  } else {
    for (const auto& spec : options.targets.empty() ? std::vector<std::string>{"-1"} : options.targets)
      target_cols.push_back(resolve_column(spec, t, path, "target"));
  }
  if (options.task != Task::Regression && target_cols.size() != 1) {
    throw Error(fmt::format("{}: a {} task needs one label column, got {}", targets_path.empty() ? path : targets_path,
                            task_name(options.task), target_cols.size()));
  }
  std::vector<char> role(static_cast<size_t>(t.columns), 'i');  // i(nput), t(arget), d(ropped)
  if (targets_path.empty())
    for (int64_t c : target_cols) role[static_cast<size_t>(c)] = 't';
  for (const auto& spec : options.drop) {
    int64_t c = resolve_column(spec, t, path, "drop");
    if (role[static_cast<size_t>(c)] == 't') throw Error(fmt::format("{}: {} is both a target and dropped", path, w.column(c)));
    role[static_cast<size_t>(c)] = 'd';
  }
  std::vector<char> categorical(static_cast<size_t>(t.columns), 0);
  for (const auto& spec : options.categorical) {
    int64_t c = resolve_column(spec, t, path, "categorical");
    if (role[static_cast<size_t>(c)] != 'i') {
      throw Error(fmt::format("{}: categorical {} is a {} column, not an input", path, w.column(c),
                              role[static_cast<size_t>(c)] == 't' ? "target" : "dropped"));
    }
    categorical[static_cast<size_t>(c)] = 1;
  }

  Dataset ds;
  TableSchema& schema = ds.schema;
  for (int64_t c = 0; c < t.columns; ++c)
    if (role[static_cast<size_t>(c)] == 'i') schema.input_columns.push_back(c);
  if (schema.input_columns.empty()) throw Error(fmt::format("{}: no input columns left", path));
  if (like && like->schema.input_columns != schema.input_columns) {
    throw Error(fmt::format("{}: its input columns differ from those of the training file {}", path, like->source));
  }

  // Categories: sorted distinct values, or the training file's.
  for (size_t k = 0; k < schema.input_columns.size(); ++k) {
    const int64_t c = schema.input_columns[k];
    std::vector<std::string> cats;
    if (categorical[static_cast<size_t>(c)]) {
      if (like) {
        cats = like->schema.categories.at(k);
        if (cats.empty()) throw Error(fmt::format("{}: {} is categorical here but numeric in the training file", path, w.column(c)));
      } else {
        std::set<std::string> distinct;
        for (int64_t r = 0; r < t.rows(); ++r) {
          std::string v = trim(t.at(r, c));
          if (!is_missing(v, options)) distinct.insert(v);
        }
        if (distinct.empty()) throw Error(fmt::format("{}: categorical {} has no values", path, w.column(c)));
        cats.assign(distinct.begin(), distinct.end());
      }
    }
    if (like && cats.empty() && !like->schema.categories.at(k).empty()) {
      throw Error(fmt::format("{}: {} is numeric here but categorical in the training file", path, w.column(c)));
    }
    schema.categories.push_back(std::move(cats));
  }

  // Feature layout and names.
  std::vector<int64_t> offset;
  int64_t features = 0;
  for (size_t k = 0; k < schema.input_columns.size(); ++k) {
    const int64_t c = schema.input_columns[k];
    const auto& cats = schema.categories[k];
    offset.push_back(features);
    if (!cats.empty() && options.encoding == Encoding::OneHot) {
      for (const auto& v : cats) ds.feature_names.push_back(column_name(t, c) + "=" + v);
      features += static_cast<int64_t>(cats.size());
    } else {
      ds.feature_names.push_back(column_name(t, c));
      features += 1;
    }
  }
  ds.sample_shape = options.sample_shape.empty() ? Shape{features} : options.sample_shape;
  if (shape_numel(ds.sample_shape) != features) {
    throw Error(fmt::format("{}: sample_shape {} holds {} values but the file gives {} features", path,
                            shape_str(ds.sample_shape), shape_numel(ds.sample_shape), features));
  }

  // Inputs.
  const int64_t n = t.rows();
  Shape shape{n};
  shape.insert(shape.end(), ds.sample_shape.begin(), ds.sample_shape.end());
  ds.inputs = zeros(shape, DType::F64);
  double* x = ds.inputs.data<double>();
  const double missing_value = options.missing == Missing::Mean ? std::nan("") : options.fill_value;
  for (int64_t r = 0; r < n; ++r) {
    double* row = x + r * features;
    for (size_t k = 0; k < schema.input_columns.size(); ++k) {
      const int64_t c = schema.input_columns[k];
      const auto& cats = schema.categories[k];
      const std::string v = trim(t.at(r, c));
      if (is_missing(v, options)) {
        if (options.missing == Missing::Error) {
          w.fail(r, c, fmt::format("missing value ({}; set missing = \"mean\" or \"constant\" to fill it)",
                                   v.empty() ? std::string("empty field") : "'" + v + "'"));
        }
        // A missing category is all-zero in one-hot; a missing number or label index is filled.
        if (cats.empty() || options.encoding == Encoding::Label) row[offset[k]] = missing_value;
        continue;
      }
      if (cats.empty()) {
        row[offset[k]] = number_at(w, r, c, v, " (list the column under categorical to encode strings)");
        continue;
      }
      auto it = std::lower_bound(cats.begin(), cats.end(), v);
      if (it == cats.end() || *it != v) {
        w.fail(r, c, fmt::format("category '{}' does not occur in the training file", v));
      }
      const auto cat = static_cast<int64_t>(it - cats.begin());
      if (options.encoding == Encoding::OneHot) {
        row[offset[k] + cat] = 1.0;
      } else {
        row[offset[k]] = static_cast<double>(cat);
      }
    }
  }

  // Targets.
  const Table& target_table = tt ? *tt : t;
  const Where tw{tt ? targets_path : path, target_table};
  ds.task = options.task;
  if (options.task == Task::Regression) {
    const auto nt = static_cast<int64_t>(target_cols.size());
    ds.targets = empty({n, nt}, DType::F64);
    double* y = ds.targets.data<double>();
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < nt; ++j) {
        const int64_t c = target_cols[static_cast<size_t>(j)];
        const std::string v = trim(target_table.at(r, c));
        if (is_missing(v, options)) tw.fail(r, c, fmt::format("missing target '{}'", v));
        y[r * nt + j] = number_at(tw, r, c, v, "");
      }
    }
    for (int64_t c : target_cols) {
      ds.target_names.push_back(!target_table.header.empty() ? target_table.header[static_cast<size_t>(c)]
                                : nt == 1                   ? std::string("target")
                                                            : fmt::format("target{}", c));
    }
  } else {
    ds.class_names = like ? like->class_names : options.class_names;
    std::vector<int64_t> y = encode_labels(tw, target_cols[0], options, ds.class_names);
    ds.num_classes = static_cast<int64_t>(ds.class_names.size());
    if (options.task == Task::Binary && ds.num_classes != 2) {
      throw Error(fmt::format("{}: a binary task needs 2 classes, got {}", tw.path, ds.num_classes));
    }
    ds.targets = empty({n}, DType::I64);
    std::copy(y.begin(), y.end(), ds.targets.data<int64_t>());
  }
  ds.source = targets_path.empty() ? path : path + ", " + targets_path;
  return ds;
}

}  // namespace descent::data

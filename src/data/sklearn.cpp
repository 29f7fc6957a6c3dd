// The CSV files that Debian's python3-sklearn ships with its bundled datasets, read with the
// options sklearn's own loaders use (sklearn/datasets/_base.py). Their first line is
// "<samples>,<features>,<class names...>", not a header, so it is skipped and the class names are
// taken from it; the column names, which sklearn keeps in Python, are listed here.
#include <fmt/format.h>

#include <filesystem>

#include "data/byte_source.h"
#include "descent/data.h"

namespace descent::data {
namespace {

namespace fs = std::filesystem;

std::string require(const std::string& name, const std::string& dir, const std::string& file) {
  fs::path p = fs::path(dir) / file;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) {
    throw Error(fmt::format("dataset '{}' not found: {} is missing; install the Debian package python3-sklearn "
                            "(apt-get install python3-sklearn)",
                            name, p.string()));
  }
  return p.string();
}

// The class names of sklearn's first line: fields 3 and on.
std::vector<std::string> class_names_of(const std::string& path) {
  std::string text = read_all(path);
  std::string first = text.substr(0, text.find('\n'));
  if (!first.empty() && first.back() == '\r') first.pop_back();
  std::vector<std::string> fields;
  size_t start = 0;
  for (size_t i = 0; i <= first.size(); ++i) {
    if (i == first.size() || first[i] == ',') {
      fields.push_back(first.substr(start, i - start));
      start = i + 1;
    }
  }
  if (fields.size() < 3) throw Error(fmt::format("{}: first line '{}' has no class names", path, first));
  return {fields.begin() + 2, fields.end()};
}

std::vector<std::string> with_target(std::vector<std::string> names) {
  names.push_back("target");
  return names;
}

}  // namespace

TableSource locate_table(const std::string& name, const std::string& data_dir) {
  TableSource s;
  CsvOptions& o = s.options;
  if (name == "iris" || name == "wine" || name == "breast_cancer") {
    s.path = require(name, data_dir, name == "iris" ? "iris.csv" : name == "wine" ? "wine_data.csv" : "breast_cancer.csv");
    o.header = false;
    o.skip_rows = 1;
    o.class_names = class_names_of(s.path);
    if (name == "iris") {
      o.column_names = with_target({"sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"});
    } else if (name == "wine") {
      o.column_names = with_target({"alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
                                    "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
                                    "od280/od315_of_diluted_wines", "proline"});
    } else {
      o.task = Task::Binary;
      const char* measures[] = {"radius",    "texture",   "perimeter",      "area",     "smoothness",
                                "compactness", "concavity", "concave points", "symmetry", "fractal dimension"};
      for (const char* m : measures) o.column_names.push_back(fmt::format("mean {}", m));
      for (const char* m : measures) o.column_names.push_back(fmt::format("{} error", m));
      for (const char* m : measures) o.column_names.push_back(fmt::format("worst {}", m));
      o.column_names.push_back("target");
    }
    o.targets = {"target"};  // holds class indices; load_csv maps them to the names
    return s;
  }
  if (name == "diabetes") {
    s.path = require(name, data_dir, "diabetes_data_raw.csv.gz");
    s.targets_path = require(name, data_dir, "diabetes_target.csv.gz");
    o.header = false;
    o.delimiter = "whitespace";
    o.task = Task::Regression;
    o.column_names = {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"};
    return s;
  }
  if (name == "digits") {
    s.path = require(name, data_dir, "digits.csv.gz");
    o.header = false;
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) o.column_names.push_back(fmt::format("pixel_{}_{}", r, c));
    o.column_names.push_back("target");
    o.targets = {"target"};
    o.sample_shape = {1, 8, 8};
    return s;
  }
  throw Error(fmt::format("unknown tabular dataset name '{}' (known: iris, wine, breast_cancer, diabetes, digits)", name));
}

}  // namespace descent::data

// The [data] section in one call: find the files, load them, split, fit the preprocessing on the
// training part only, and apply it to every part.
#include <fmt/format.h>

#include <numeric>
#include <span>

#include "descent/data.h"

namespace descent::data {
namespace {

bool is_idx_name(const std::string& name) { return name == "fashion-mnist" || name == "mnist"; }

// Keys of the other format are errors rather than silently ignored (a typo must not train on the
// wrong data).
void check_foreign_keys(const DataOptions& o, bool idx) {
  const CsvOptions d;
  const std::pair<const char*, bool> csv_keys[] = {
      {"train_file", !o.train_file.empty()},
      {"test_file", !o.test_file.empty()},
      {"train_targets_file", !o.train_targets_file.empty()},
      {"test_targets_file", !o.test_targets_file.empty()},
      {"delimiter", o.csv.delimiter != d.delimiter},
      {"header", o.csv.header != d.header},
      {"skip_rows", o.csv.skip_rows != d.skip_rows},
      {"task", o.csv.task != d.task},
      {"targets", !o.csv.targets.empty()},
      {"drop", !o.csv.drop.empty()},
      {"categorical", !o.csv.categorical.empty()},
      {"encoding", o.csv.encoding != d.encoding},
      {"missing", o.csv.missing != d.missing},
      {"fill_value", o.csv.fill_value != d.fill_value},
      {"column_names", !o.csv.column_names.empty()},
      {"class_names", !o.csv.class_names.empty()},
      {"sample_shape", !o.csv.sample_shape.empty()}};
  const std::pair<const char*, bool> idx_keys[] = {
      {"dir", !o.dir.empty()},
      {"train_images", !o.train_images.empty()},
      {"train_labels", !o.train_labels.empty()},
      {"test_images", !o.test_images.empty()},
      {"test_labels", !o.test_labels.empty()},
      {"num_classes", o.num_classes != DataOptions{}.num_classes}};
  using Keys = std::span<const std::pair<const char*, bool>>;
  for (const auto& [key, set] : idx ? Keys(csv_keys) : Keys(idx_keys)) {
    if (set) throw Error(fmt::format("data: {} does not apply to {} data", key, idx ? "IDX" : "CSV"));
  }
}

std::vector<int64_t> all_of(const Dataset& d) {
  std::vector<int64_t> v(static_cast<size_t>(d.size()));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

IdxFiles idx_files(const DataOptions& o) {
  const bool explicit_files = !o.train_images.empty() || !o.train_labels.empty() || !o.test_images.empty() ||
                              !o.test_labels.empty();
  if (!o.name.empty()) {
    if (explicit_files || !o.dir.empty()) throw Error("data: set either name or dir/files, not both");
    return locate_idx(o.name);
  }
  if (!o.dir.empty()) {
    if (explicit_files) throw Error("data: set either dir or the four train_/test_ image and label files, not both");
    return idx_files_in(o.dir);
  }
  const std::pair<const char*, const std::string*> required[] = {
      {"train_images", &o.train_images}, {"train_labels", &o.train_labels},
      {"test_images", &o.test_images},   {"test_labels", &o.test_labels}};
  for (const auto& [key, value] : required) {
    if (value->empty()) {
      throw Error(fmt::format("data: format \"idx\" needs name, dir, or all four files; {} is not set", key));
    }
  }
  return {o.train_images, o.train_labels, o.test_images, o.test_labels};
}

PreparedData prepare_idx(const DataOptions& o) {
  check_foreign_keys(o, true);
  if (o.test_fraction != 0.0) throw Error("data: test_fraction does not apply to IDX data (it has its own test files)");
  if (o.standardize != Scaling::None) {
    throw Error("data: standardize applies to tabular data; IDX images are scaled to [0, 1] by the loader");
  }
  IdxFiles f = idx_files(o);
  IdxOptions io{.num_classes = o.num_classes};
  if (!o.name.empty()) io.class_names = idx_class_names(o.name);
  PreparedData p;
  p.train = load_idx(f.train_images, f.train_labels, io);
  p.test = load_idx(f.test_images, f.test_labels, io);
  if (p.test.sample_shape != p.train.sample_shape) {
    throw Error(fmt::format("{}: test images are {} but training images are {}", f.test_images,
                            shape_str(p.test.sample_shape), shape_str(p.train.sample_shape)));
  }
  Split s = split(p.train, {.val_fraction = o.val_fraction, .seed = o.seed, .stratify = o.stratify});
  p.train_indices = std::move(s.train);
  p.val_indices = std::move(s.val);
  p.test_indices = all_of(p.test);
  return p;
}

// A named dataset knows how its file is read: a reading option set to something else would be
// silently overridden, so it is an error.
void check_reading_options(const DataOptions& o, const TableSource& src) {
  const CsvOptions d;
  const CsvOptions& u = o.csv;
  const CsvOptions& n = src.options;
  auto conflicts = [](const auto& user, const auto& def, const auto& named) { return user != def && user != named; };
  const std::pair<const char*, bool> checks[] = {
      {"delimiter", conflicts(u.delimiter, d.delimiter, n.delimiter)},
      {"header", conflicts(u.header, d.header, n.header)},
      {"skip_rows", conflicts(u.skip_rows, d.skip_rows, n.skip_rows)},
      {"task", conflicts(u.task, d.task, n.task)},
      {"targets", conflicts(u.targets, d.targets, n.targets)},
      {"column_names", conflicts(u.column_names, d.column_names, n.column_names)},
      {"class_names", conflicts(u.class_names, d.class_names, n.class_names)},
      {"sample_shape", conflicts(u.sample_shape, d.sample_shape, n.sample_shape)},
      {"train_targets_file", conflicts(o.train_targets_file, std::string(), src.targets_path)}};
  for (const auto& [key, bad] : checks) {
    if (bad) throw Error(fmt::format("data: name = \"{}\" fixes how its file is read; remove {}", o.name, key));
  }
}

PreparedData prepare_csv(const DataOptions& o) {
  check_foreign_keys(o, false);
  std::string train_file = o.train_file, train_targets = o.train_targets_file;
  CsvOptions csv = o.csv;
  if (!o.name.empty()) {
    if (!train_file.empty() || !o.test_file.empty()) throw Error("data: set either name or train_file, not both");
    TableSource src = locate_table(o.name);
    check_reading_options(o, src);
    train_file = src.path;
    train_targets = src.targets_path;
    csv = table_reading_options(src, o.csv);
  }
  if (train_file.empty()) throw Error("data: format \"csv\" needs name or train_file");
  if (!o.test_file.empty() && o.test_fraction != 0.0) {
    throw Error("data: set either test_file or test_fraction, not both");
  }
  PreparedData p;
  p.train = load_csv(train_file, csv, train_targets);
  const bool stratify = o.stratify && p.train.task != Task::Regression;
  Split s = split(p.train, {.val_fraction = o.val_fraction, .test_fraction = o.test_fraction, .seed = o.seed,
                            .stratify = stratify});
  p.train_indices = std::move(s.train);
  p.val_indices = std::move(s.val);
  const bool separate_test = !o.test_file.empty();
  if (separate_test) p.test = load_csv(o.test_file, csv, o.test_targets_file, &p.train);

  // Imputation of missing values needs training means even without scaling.
  if (o.standardize != Scaling::None || csv.missing == Missing::Mean) {
    p.standardizer = Standardizer::fit(p.train, p.train_indices, o.standardize);
    p.standardizer.apply(p.train);
    if (separate_test) p.standardizer.apply(p.test);
  }
  if (separate_test) {
    p.test_indices = all_of(p.test);
  } else if (!s.test.empty()) {
    p.test = p.train;  // shares the (standardized) tensors; the indices pick the test rows
    p.test_indices = std::move(s.test);
  }
  return p;
}

}  // namespace

CsvOptions table_reading_options(const TableSource& src, const CsvOptions& user) {
  CsvOptions csv = src.options;
  csv.drop = user.drop;
  csv.categorical = user.categorical;
  csv.encoding = user.encoding;
  csv.missing = user.missing;
  csv.fill_value = user.fill_value;
  csv.missing_markers = user.missing_markers;
  return csv;
}

PreparedData prepare(const DataOptions& o) {
  if (!o.name.empty()) return is_idx_name(o.name) ? prepare_idx(o) : prepare_csv(o);
  if (o.format == "idx") return prepare_idx(o);
  if (o.format == "csv") return prepare_csv(o);
  throw Error(fmt::format("data: unknown format \"{}\" (choose one of: idx, csv)", o.format));
}

}  // namespace descent::data

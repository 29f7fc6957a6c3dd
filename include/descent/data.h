// descent/data.h — datasets, splits, preprocessing and the batch loader.
//
// A Dataset holds all samples in memory in their storage type: images stay uint8 (a quarter of
// float32's memory) and are converted per batch to the model's dtype, scaled to [0, 1]; tabular
// features (CSV/TSV) are float64. Splits are index subsets of one Dataset, so a validation split
// copies nothing. Preprocessing (imputation, standardization) is fitted on the training split
// only. The Loader hands out batches in an order fixed by (seed, epoch) alone, so a run resumed
// from a checkpoint mid-epoch sees exactly the batches the uninterrupted run would have seen,
// with or without a background thread preparing them.
//
//   namespace data = descent::data;
//   auto files = data::locate_idx("fashion-mnist");          // the Debian package's files
//   data::Dataset train = data::load_idx(files.train_images, files.train_labels);
//   data::Split split = data::split(train, {.val_fraction = 0.1, .seed = 0, .stratify = true});
//   data::Loader loader(train, {.batch_size = 128, .seed = 0, .flatten = true}, split.train);
//   for (int64_t epoch = 0; epoch < 10; ++epoch) {
//     loader.start_epoch(epoch);
//     for (data::Batch b; loader.next(b);) { /* b.x: float32 [128, 784], b.y: int64 [128] */ }
//   }
//
// Or the whole [data] section at once, here a CSV with a string label column:
//
//   data::PreparedData d = data::prepare({.format = "csv", .train_file = "wines.csv",
//       .csv = {.targets = {"quality"}, .categorical = {"color"}}, .val_fraction = 0.1,
//       .test_fraction = 0.2, .standardize = data::Scaling::Standard});
//   data::Loader val(d.train, {.batch_size = 256, .shuffle = false}, d.val_indices);
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "descent/tensor.h"

namespace descent::data {

/// What the targets of a dataset mean; decides the target dtype of a batch.
enum class Task : uint8_t { Classification, Binary, Regression, Count };

/// "classification", "binary", "regression".
const char* task_name(Task t);

/// How the columns of a tabular training file were encoded, so a test file is encoded alike.
struct TableSchema {
  /// Source column (0-based) of each input column used, in feature order before one-hot expansion.
  std::vector<int64_t> input_columns = {};
  /// Categories of each input column (sorted, from the training file); empty for a numeric column.
  std::vector<std::vector<std::string>> categories = {};
};

/// All samples of one data file (or pair of files) in memory.
struct Dataset {
  /// [N, ...sample_shape]: uint8 for images, float64 for tabular features.
  Tensor inputs = {};
  /// int64 [N] class indices for classification and binary; float64 [N, T] for regression.
  Tensor targets = {};
  /// Shape of one input sample, e.g. {1, 28, 28} for an MNIST image or {13} for 13 features.
  Shape sample_shape = {};
  /// Kind of targets.
  Task task = Task::Classification;
  /// Number of classes (2 for binary, 0 for regression).
  int64_t num_classes = 0;
  /// Name of each class, indexed by class; "0", "1", ... when the data has no names.
  std::vector<std::string> class_names = {};
  /// Name of each input feature (tabular data); empty for images.
  std::vector<std::string> feature_names = {};
  /// Name of each regression target; empty otherwise.
  std::vector<std::string> target_names = {};
  /// The file(s) the samples came from, for messages.
  std::string source = {};
  /// How a tabular file's columns became features (empty for images); reused for sibling files.
  TableSchema schema = {};

  /// Number of samples.
  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
};

/// A copy of the samples at `indices` (in that order); throws on an index out of range.
Dataset subset(const Dataset& dataset, const std::vector<int64_t>& indices);

// ---- IDX files (MNIST, Fashion-MNIST) ----------------------------------------------------------

/// Options of load_idx.
struct IdxOptions {
  /// Labels must lie in [0, num_classes); a label outside is an error naming file and index.
  int64_t num_classes = 10;
  /// Class names (size num_classes); empty gives "0", "1", ....
  std::vector<std::string> class_names = {};
};

/// Reads an IDX image file (magic 0x00000803, gzip or raw) as uint8 [N, rows, cols].
Tensor read_idx_images(const std::string& path);
/// Reads an IDX label file (magic 0x00000801, gzip or raw) as uint8 [N].
Tensor read_idx_labels(const std::string& path);
/// Reads an image file and its label file into a classification Dataset (inputs [N, 1, rows, cols]).
Dataset load_idx(const std::string& images_path, const std::string& labels_path, const IdxOptions& options = {});

/// The four files of an MNIST-style dataset.
struct IdxFiles {
  /// Training images (idx3).
  std::string train_images = {};
  /// Training labels (idx1).
  std::string train_labels = {};
  /// Test images (idx3).
  std::string test_images = {};
  /// Test labels (idx1).
  std::string test_labels = {};
};

/// Directory where Debian's dataset-* packages put their files.
inline constexpr const char* kDebianDatasetDir = "/usr/share/datasets";

/// Finds a named dataset ("fashion-mnist", "mnist") installed from Debian; the error names the package.
IdxFiles locate_idx(const std::string& name);
/// The four files with the standard names ({train,t10k}-{images-idx3,labels-idx1}-ubyte, .gz or raw) in dir.
IdxFiles idx_files_in(const std::string& dir);
/// The class names of a named IDX dataset ("fashion-mnist": "T-shirt/top", ...; "mnist": "0".."9").
std::vector<std::string> idx_class_names(const std::string& name);

// ---- tabular files (CSV, TSV) ---------------------------------------------------------------

/// What to do with a missing input value (an empty field or one of CsvOptions::missing_markers).
enum class Missing : uint8_t { Error, Mean, Constant, Count };
/// How a categorical (string) input column becomes features.
enum class Encoding : uint8_t { OneHot, Label, Count };

/// "error", "mean", "constant".
const char* missing_name(Missing m);
/// Parses a missing_name(); throws descent::Error listing the choices.
Missing missing_from_name(const std::string& name);
/// "onehot", "label".
const char* encoding_name(Encoding e);
/// Parses an encoding_name(); throws descent::Error listing the choices.
Encoding encoding_from_name(const std::string& name);
/// Parses a task_name(); throws descent::Error listing the choices.
Task task_from_name(const std::string& name);

/// How to read a CSV/TSV file and which columns play which part. Columns are named by their
/// header name or by a 0-based index (negative counts from the end); a name wins over an index.
struct CsvOptions {
  /// One character, "tab", or "whitespace" (runs of spaces and tabs, as in space-aligned files).
  std::string delimiter = ",";
  /// The first row (after skip_rows) names the columns.
  bool header = true;
  /// Physical lines skipped before the header or first row.
  int64_t skip_rows = 0;
  /// Names of the columns of a file without header (for selecting columns and in messages).
  std::vector<std::string> column_names = {};
  /// Classification (integer or string labels), binary (two classes) or regression (numbers).
  Task task = Task::Classification;
  /// Target column(s); default: the last column. Ignored when targets come from a separate file.
  std::vector<std::string> targets = {};
  /// Columns to ignore (ids, leaks).
  std::vector<std::string> drop = {};
  /// String-valued input columns to encode as categories.
  std::vector<std::string> categorical = {};
  /// One-hot (one 0/1 feature per category) or label (the category index as one feature).
  Encoding encoding = Encoding::OneHot;
  /// Error (default), mean (imputed by the Standardizer from the training split) or constant.
  Missing missing = Missing::Error;
  /// The value of a missing input under Missing::Constant.
  double fill_value = 0.0;
  /// Field values (after trimming blanks) that mean "missing"; the empty field always does.
  std::vector<std::string> missing_markers = {"NA", "N/A", "NaN", "nan", "null", "?"};
  /// Class names in class order; a label is a name or its 0-based index. Empty: the sorted
  /// distinct labels, or the label itself as index when every label is a non-negative integer.
  std::vector<std::string> class_names = {};
  /// Shape of one sample's features, e.g. {1, 8, 8} for 8x8 images; empty: [features].
  Shape sample_shape = {};
};

/// Reads a CSV/TSV file (gzip or raw) into a Dataset with float64 inputs [N, features] (or
/// [N, ...sample_shape]). Targets come from `targets_path` (a file of the same format, one row per
/// sample, every column a target) when given, else from the target columns. With `like` (a
/// dataset read from the training file) the classes and categories are taken from it, so a test
/// file is encoded as the training file was. Every error names file, row (its line) and column.
Dataset load_csv(const std::string& path, const CsvOptions& options, const std::string& targets_path = "",
                 const Dataset* like = nullptr);

/// A named tabular dataset shipped by a Debian package: its file(s) and the options to read them.
struct TableSource {
  /// The data file.
  std::string path = {};
  /// Separate targets file, or empty.
  std::string targets_path = {};
  /// How to read it.
  CsvOptions options = {};
};

/// Where python3-sklearn keeps the CSV files of its bundled datasets.
inline constexpr const char* kSklearnDataDir = "/usr/lib/python3/dist-packages/sklearn/datasets/data";

/// Finds "iris", "wine", "breast_cancer" (binary), "diabetes" (regression) or "digits" (8x8
/// images) in python3-sklearn's files (in `data_dir`, kSklearnDataDir unless a test points
/// elsewhere); a missing file is an error naming it and the package to install.
TableSource locate_table(const std::string& name, const std::string& data_dir = kSklearnDataDir);
/// How a named dataset's file is read: the source fixes the format (delimiter, header, label
/// column); which columns to drop and how to encode and fill them stay the user's (`user`).
CsvOptions table_reading_options(const TableSource& src, const CsvOptions& user);

// ---- standardization ----------------------------------------------------------------------------

/// Per-feature scaling of float inputs.
enum class Scaling : uint8_t { None, Standard, MinMax, Count };

/// "none", "standard", "minmax".
const char* scaling_name(Scaling s);
/// Parses a scaling_name(); throws descent::Error listing the choices.
Scaling scaling_from_name(const std::string& name);

/// Per-feature preprocessing fitted on the training split only: missing values (NaN) are
/// replaced by the feature's training mean, then x' = (x - shift) / scale with shift/scale the
/// mean/std (Standard, population std) or min/max-min (MinMax); a constant feature gets scale 1.
/// Stored with the model and checkpoints as JSON, applied again at eval and export time.
class Standardizer {
 public:
  /// The identity (no features).
  Standardizer() = default;
  /// Fits on the samples `indices` of dataset (empty = all); throws for uint8 (image) inputs and
  /// for a feature with no value in those samples.
  static Standardizer fit(const Dataset& dataset, const std::vector<int64_t>& indices, Scaling scaling);
  /// Restores from to_json(); throws descent::Error on malformed text.
  static Standardizer from_json(const std::string& json);

  /// Transforms dataset.inputs in place (call once per dataset; a no-op for an identity).
  void apply(Dataset& dataset) const;
  /// A transformed copy of x ([B, features...] float32 or float64).
  Tensor transform(const Tensor& x) const;
  /// {"scaling": ..., "fill": [...], "shift": [...], "scale": [...]} with exact doubles.
  std::string to_json() const;

  /// The scaling method.
  Scaling scaling() const { return scaling_; }
  /// Number of features (0 for the identity).
  int64_t num_features() const { return static_cast<int64_t>(shift_.size()); }
  /// Per-feature value that replaces a missing input (the training mean).
  const std::vector<double>& fill() const { return fill_; }
  /// Per-feature shift.
  const std::vector<double>& shift() const { return shift_; }
  /// Per-feature divisor.
  const std::vector<double>& scale() const { return scale_; }

 private:
  Scaling scaling_ = Scaling::None;
  std::vector<double> fill_, shift_, scale_;
};

// ---- augmentation -------------------------------------------------------------------------------

/// Random image transforms for training batches ([C, H, W] samples). Each sample draws, in this
/// order: a flip (probability 1/2), a crop offset, a translation; the generator is seeded per
/// batch from (loader seed, epoch, batch index), so batches are the same whatever the timing.
struct AugmentOptions {
  /// Crop the original size out of the image zero-padded by this many pixels on each side.
  int64_t crop_padding = 0;
  /// Mirror left-right with probability 1/2.
  bool horizontal_flip = false;
  /// Shift by up to this many pixels along each axis (zero fill).
  int64_t max_translation = 0;

  /// True when any transform is on.
  bool enabled() const { return crop_padding > 0 || horizontal_flip || max_translation > 0; }
};

/// Applies `options` in place to a float batch x = [B, ...sample_shape] (sample_shape = [C, H, W]).
void augment_batch(Tensor& x, const Shape& sample_shape, const AugmentOptions& options, Generator& gen);

// ---- splits -------------------------------------------------------------------------------------

/// How to split one dataset into train / validation / test index sets.
struct SplitOptions {
  /// Fraction of samples for validation (rounded to the nearest count).
  double val_fraction = 0.0;
  /// Fraction of samples for test.
  double test_fraction = 0.0;
  /// Seed of the shuffle that assigns samples to parts.
  uint64_t seed = 0;
  /// Keep each class's proportion in every part (classification and binary only).
  bool stratify = false;
};

/// Index sets into one Dataset, each sorted ascending.
struct Split {
  /// Training indices.
  std::vector<int64_t> train = {};
  /// Validation indices (empty when val_fraction is 0).
  std::vector<int64_t> val = {};
  /// Test indices (empty when test_fraction is 0).
  std::vector<int64_t> test = {};
};

/// Splits [0, dataset.size()) by fractions; deterministic for a seed; throws on fractions that
/// leave a requested part or the training part empty.
Split split(const Dataset& dataset, const SplitOptions& options);

// ---- batches ------------------------------------------------------------------------------------

/// One batch: inputs converted to the loader's dtype and targets.
struct Batch {
  /// [B, ...sample_shape] (or [B, features] when flattened) in the loader's dtype.
  Tensor x = {};
  /// int64 [B] for classification; loader dtype [B, 1] for binary and [B, T] for regression.
  Tensor y = {};
};

/// Options of Loader.
struct LoaderOptions {
  /// Samples per batch.
  int64_t batch_size = 64;
  /// Reshuffle every epoch; false keeps the order of the indices.
  bool shuffle = true;
  /// Seed of the per-epoch permutation (see Loader).
  uint64_t seed = 0;
  /// Drop the last batch of an epoch when it is smaller than batch_size.
  bool drop_last = false;
  /// Dtype of x (and of y for binary and regression): float32 or float64.
  DType dtype = DType::F32;
  /// Give x as [B, prod(sample_shape)] instead of [B, ...sample_shape].
  bool flatten = false;
  /// Factor applied to uint8 inputs (1/255 maps pixels to [0, 1]); float inputs are not scaled.
  double scale = 1.0 / 255.0;
  /// Random transforms of each batch (training loaders only); off by default.
  AugmentOptions augment = {};
  /// Prepare the next batch on a background thread while the caller trains on this one.
  bool prefetch = false;
};

/// Where a Loader stands, for checkpoints: restore() continues with the very next batch.
struct LoaderState {
  /// Epoch being served.
  int64_t epoch = 0;
  /// Samples of this epoch already handed out.
  int64_t position = 0;
  /// Seed of the permutation.
  uint64_t seed = 0;
  /// Samples per epoch (checked on restore: a different dataset or subset is an error).
  int64_t num_samples = 0;
};

/// Batches over a Dataset or an index subset of it.
///
/// The order of epoch e is the subset permuted by Fisher-Yates with a Generator seeded by
/// derive_seed(seed, e) — a function of (seed, epoch) only, so an epoch can be replayed or resumed
/// without the history of earlier epochs. Batch k of epoch e is augmented with a Generator seeded
/// by derive_seed(seed, e, k + 1). With prefetch, a background thread computes the same batches
/// ahead (double buffering): the output is identical, only earlier. The loader shares the
/// dataset's tensors (no copy; the dataset must not change while the loader lives); each batch is
/// written into a freshly allocated tensor (cheap: the caching allocator), so a batch the caller
/// still holds is never overwritten. Float inputs holding NaN (unimputed missing values) are an
/// error at construction.
class Loader {
 public:
  /// Prepares epoch 0; `indices` selects a subset (empty = all samples) and is validated.
  Loader(const Dataset& dataset, const LoaderOptions& options, std::vector<int64_t> indices = {});
  /// Stops the prefetch thread, if any.
  ~Loader();
  /// Movable (the prefetch thread keeps running for the new owner); not copyable.
  Loader(Loader&&) noexcept;
  /// Move assignment; the loader assigned to stops its own thread first.
  Loader& operator=(Loader&&) noexcept;

  /// Batches per epoch (the last partial batch counts unless drop_last).
  int64_t num_batches() const;
  /// Samples per epoch before drop_last.
  int64_t num_samples() const;
  /// Starts epoch `epoch` from its first batch.
  void start_epoch(int64_t epoch);
  /// Fills `out` with the next batch; false at the end of the epoch.
  bool next(Batch& out);
  /// The current position, for a checkpoint.
  LoaderState state() const;
  /// Continues from a state() of a loader over the same samples; throws on a mismatch.
  void restore(const LoaderState& state);
  /// The sample order of the current epoch (indices into the dataset).
  const std::vector<int64_t>& order() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- the [data] section in one call -------------------------------------------------------------

/// Everything the config's [data] section says: which data, how to split and preprocess it.
struct DataOptions {
  /// A named dataset: "fashion-mnist", "mnist" (IDX) or "iris", "wine", "breast_cancer",
  /// "diabetes", "digits" (CSV from python3-sklearn); empty when files are given.
  std::string name = {};
  /// "idx" or "csv" when files are given (a name implies its format).
  std::string format = "idx";
  /// IDX: folder holding the four standard file names.
  std::string dir = {};
  /// IDX: explicit training images file.
  std::string train_images = {};
  /// IDX: explicit training labels file.
  std::string train_labels = {};
  /// IDX: explicit test images file.
  std::string test_images = {};
  /// IDX: explicit test labels file.
  std::string test_labels = {};
  /// IDX: number of classes (labels must lie below it).
  int64_t num_classes = 10;
  /// CSV: the training file.
  std::string train_file = {};
  /// CSV: the test file (optional; else test_fraction of train_file, or no test set).
  std::string test_file = {};
  /// CSV: targets of train_file in a separate file (optional).
  std::string train_targets_file = {};
  /// CSV: targets of test_file in a separate file (optional).
  std::string test_targets_file = {};
  /// CSV: parsing and column roles (a name presets them).
  CsvOptions csv = {};
  /// Fraction of the training file held out for validation.
  double val_fraction = 0.0;
  /// Fraction of the training file held out for test (CSV without test_file).
  double test_fraction = 0.0;
  /// Stratify the splits by class (classification and binary; regression splits are plain).
  bool stratify = true;
  /// Seed of the splits.
  uint64_t seed = 0;
  /// Per-feature scaling of tabular inputs, fitted on the training split (images: use scale).
  Scaling standardize = Scaling::None;
};

/// Loaded, split and preprocessed data, ready for Loaders.
struct PreparedData {
  /// The training file's samples (train and validation indices point into it).
  Dataset train = {};
  /// Training samples.
  std::vector<int64_t> train_indices = {};
  /// Validation samples (empty without a validation split).
  std::vector<int64_t> val_indices = {};
  /// The test samples' dataset (shares train's tensors when the test set is a split of it;
  /// size 0 when there is no test set).
  Dataset test = {};
  /// Test samples in `test`.
  std::vector<int64_t> test_indices = {};
  /// Fitted on train_indices and already applied to train and test; keep it with the model.
  Standardizer standardizer = {};
};

/// Loads, splits and standardizes as `options` says; every failure is a descent::Error.
PreparedData prepare(const DataOptions& options);

/// A well-mixed seed for stream `a` (e.g. an epoch) and sub-stream `b` of a base seed.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace descent::data

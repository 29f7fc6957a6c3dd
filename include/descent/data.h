// descent/data.h — datasets, splits and the batch loader.
//
// A Dataset holds all samples in memory in their storage type: images stay uint8 (a quarter of
// float32's memory) and are converted per batch to the model's dtype, scaled to [0, 1]. Splits
// are index subsets of one Dataset, so a validation split copies nothing. The Loader hands out
// batches in an order fixed by (seed, epoch) alone, so a run resumed from a checkpoint mid-epoch
// sees exactly the batches the uninterrupted run would have seen.
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

/// All samples of one data file (or pair of files) in memory.
struct Dataset {
  /// [N, ...sample_shape]: uint8 for images, float64 for tabular features.
  Tensor inputs;
  /// int64 [N] class indices for classification and binary; float64 [N, T] for regression.
  Tensor targets;
  /// Shape of one input sample, e.g. {1, 28, 28} for an MNIST image or {13} for 13 features.
  Shape sample_shape;
  /// Kind of targets.
  Task task = Task::Classification;
  /// Number of classes (2 for binary, 0 for regression).
  int64_t num_classes = 0;
  /// Name of each class, indexed by class; "0", "1", ... when the data has no names.
  std::vector<std::string> class_names;
  /// Name of each input feature (tabular data); empty for images.
  std::vector<std::string> feature_names;
  /// Name of each regression target; empty otherwise.
  std::vector<std::string> target_names;
  /// The file(s) the samples came from, for messages.
  std::string source;

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
  std::string train_images;
  /// Training labels (idx1).
  std::string train_labels;
  /// Test images (idx3).
  std::string test_images;
  /// Test labels (idx1).
  std::string test_labels;
};

/// Directory where Debian's dataset-* packages put their files.
inline constexpr const char* kDebianDatasetDir = "/usr/share/datasets";

/// Finds a named dataset ("fashion-mnist", "mnist") installed from Debian; the error names the package.
IdxFiles locate_idx(const std::string& name);
/// The four files with the standard names ({train,t10k}-{images-idx3,labels-idx1}-ubyte, .gz or raw) in dir.
IdxFiles idx_files_in(const std::string& dir);
/// The class names of a named IDX dataset ("fashion-mnist": "T-shirt/top", ...; "mnist": "0".."9").
std::vector<std::string> idx_class_names(const std::string& name);

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
  std::vector<int64_t> train;
  /// Validation indices (empty when val_fraction is 0).
  std::vector<int64_t> val;
  /// Test indices (empty when test_fraction is 0).
  std::vector<int64_t> test;
};

/// Splits [0, dataset.size()) by fractions; deterministic for a seed; throws on fractions that
/// leave a requested part or the training part empty.
Split split(const Dataset& dataset, const SplitOptions& options);

// ---- batches ------------------------------------------------------------------------------------

/// One batch: inputs converted to the loader's dtype and targets.
struct Batch {
  /// [B, ...sample_shape] (or [B, features] when flattened) in the loader's dtype.
  Tensor x;
  /// int64 [B] for classification; loader dtype [B, 1] for binary and [B, T] for regression.
  Tensor y;
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
/// without the history of earlier epochs. The loader shares the dataset's tensors (no copy); each
/// batch is written into a freshly allocated tensor (cheap: the caching allocator), so a batch
/// the caller still holds is never overwritten.
class Loader {
 public:
  /// Prepares epoch 0; `indices` selects a subset (empty = all samples) and is validated.
  Loader(const Dataset& dataset, const LoaderOptions& options, std::vector<int64_t> indices = {});
  ~Loader();
  Loader(Loader&&) noexcept;
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

/// A well-mixed seed for stream `a` (e.g. an epoch) and sub-stream `b` of a base seed.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace descent::data

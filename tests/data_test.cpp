// Tests of descent/data.h: IDX reading and its errors, locating datasets, splits, the loader.
//
// Fixtures live in tests/data/ and are written by tests/data/make_idx_fixtures.py (IDX). To add
// a bad-input case: add the file to the script, run it, and add a row to the error table of its
// family (kIdxErrors, ...) with a substring the message must contain — every row is one test.
// Other cases build small datasets in memory with make_dataset().
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <numeric>
#include <set>
#include <chrono>
#include <thread>
#include <fstream>
#include <unistd.h>

#include "descent/data.h"

namespace data = descent::data;
using descent::DType;
using descent::Tensor;

namespace {

std::string fixture(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/" + name; }

// The message of the descent::Error that f throws ("<no error>" when it throws none).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const descent::Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_ERROR_HAS(stmt, part)                                             \
  do {                                                                           \
    std::string msg_ = error_of([&] { stmt; });                                  \
    EXPECT_NE(msg_.find(part), std::string::npos) << "message: " << msg_;        \
  } while (0)

// The fixture's definition (see make_idx_fixtures.py): 6 images of 4x5, pixel k of image i.
constexpr int64_t kN = 6, kRows = 4, kCols = 5;
uint8_t fixture_pixel(int64_t i, int64_t k) { return static_cast<uint8_t>((37 * i + k) % 256); }
const std::vector<int64_t> kFixtureLabels = {3, 1, 4, 1, 5, 9};

// A classification dataset whose sample i has pixels (i % 256, i / 256, 7, 7) so that a batch
// row tells which sample it came from.
data::Dataset make_dataset(const std::vector<int64_t>& labels, int64_t num_classes) {
  const int64_t n = static_cast<int64_t>(labels.size());
  data::Dataset ds;
  ds.inputs = descent::empty({n, 1, 2, 2}, DType::U8);
  uint8_t* p = ds.inputs.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    p[4 * i + 0] = static_cast<uint8_t>(i % 256);
    p[4 * i + 1] = static_cast<uint8_t>(i / 256);
    p[4 * i + 2] = p[4 * i + 3] = 7;
  }
  ds.targets = descent::empty({n}, DType::I64);
  std::copy(labels.begin(), labels.end(), ds.targets.data<int64_t>());
  ds.sample_shape = {1, 2, 2};
  ds.num_classes = num_classes;
  for (int64_t c = 0; c < num_classes; ++c) ds.class_names.push_back(std::to_string(c));
  return ds;
}

// Labels 0, 1, ..., k-1, 0, 1, ... for n samples.
std::vector<int64_t> cyclic_labels(int64_t n, int64_t k) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = i % k;
  return y;
}

// The dataset index of batch row b, decoded from its first two pixels (float batch, scale 1).
int64_t sample_of(const Tensor& x, int64_t b) {
  const int64_t row = x.numel() / x.size(0);
  std::vector<double> v = x.to_vector();
  return static_cast<int64_t>(v[static_cast<size_t>(b * row)]) + 256 * static_cast<int64_t>(v[static_cast<size_t>(b * row + 1)]);
}

// Every batch of one epoch, as (sample index order, x values, y values).
struct Epoch {
  std::vector<int64_t> samples;
  std::vector<std::vector<double>> xs, ys;
};
Epoch drain(data::Loader& loader) {
  Epoch e;
  for (data::Batch b; loader.next(b);) {
    for (int64_t r = 0; r < b.x.size(0); ++r) e.samples.push_back(sample_of(b.x, r));
    e.xs.push_back(b.x.to_vector());
    e.ys.push_back(b.y.to_vector());
  }
  return e;
}

}  // namespace

// ---- IDX reading --------------------------------------------------------------------------------

TEST(Idx, ReadsRawImagesWithEveryPixel) {
  Tensor t = data::read_idx_images(fixture("idx/images-idx3-ubyte"));
  ASSERT_EQ(t.shape(), (descent::Shape{kN, kRows, kCols}));
  ASSERT_EQ(t.dtype(), DType::U8);
  const uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < kN; ++i)
    for (int64_t k = 0; k < kRows * kCols; ++k) ASSERT_EQ(p[i * kRows * kCols + k], fixture_pixel(i, k)) << i << "," << k;
}

TEST(Idx, GzipReadsTheSameBytesAsRaw) {
  Tensor raw = data::read_idx_images(fixture("idx/images-idx3-ubyte"));
  Tensor gz = data::read_idx_images(fixture("idx/images-idx3-ubyte.gz"));
  EXPECT_EQ(raw.to_vector(), gz.to_vector());
  EXPECT_EQ(data::read_idx_labels(fixture("idx/labels-idx1-ubyte")).to_vector(),
            data::read_idx_labels(fixture("idx/labels-idx1-ubyte.gz")).to_vector());
}

TEST(Idx, CompressionIsDetectedByMagicNotByName) {
  EXPECT_EQ(data::read_idx_images(fixture("idx/raw-named.gz")).size(0), kN);
  std::vector<double> labels = data::read_idx_labels(fixture("idx/gzip-unnamed")).to_vector();
  EXPECT_EQ(labels, std::vector<double>(kFixtureLabels.begin(), kFixtureLabels.end()));
}

TEST(Idx, LoadIdxBuildsAClassificationDataset) {
  data::Dataset ds = data::load_idx(fixture("idx/images-idx3-ubyte.gz"), fixture("idx/labels-idx1-ubyte"));
  EXPECT_EQ(ds.size(), kN);
  EXPECT_EQ(ds.inputs.shape(), (descent::Shape{kN, 1, kRows, kCols}));
  EXPECT_EQ(ds.inputs.dtype(), DType::U8);
  EXPECT_EQ(ds.sample_shape, (descent::Shape{1, kRows, kCols}));
  EXPECT_EQ(ds.targets.dtype(), DType::I64);
  EXPECT_EQ(std::vector<int64_t>(ds.targets.data<int64_t>(), ds.targets.data<int64_t>() + kN), kFixtureLabels);
  EXPECT_EQ(ds.task, data::Task::Classification);
  EXPECT_EQ(ds.num_classes, 10);
  ASSERT_EQ(ds.class_names.size(), 10u);
  EXPECT_EQ(ds.class_names[9], "9");
  EXPECT_EQ(ds.inputs.data<uint8_t>()[kRows * kCols + 3], fixture_pixel(1, 3));
}

TEST(Idx, ClassNamesAndClassCountAreHonoured) {
  data::Dataset ds = data::load_idx(fixture("idx/images-idx3-ubyte"), fixture("idx/labels-idx1-ubyte"),
                                    {.num_classes = 10, .class_names = data::idx_class_names("fashion-mnist")});
  EXPECT_EQ(ds.class_names[9], "Ankle boot");
  EXPECT_ERROR_HAS(data::load_idx(fixture("idx/images-idx3-ubyte"), fixture("idx/labels-idx1-ubyte"),
                                  {.num_classes = 9}),
                   "labels-idx1-ubyte: label 9 at index 5 is outside [0, 9)");
}

TEST(Idx, WrongMagicMessageNamesFileFoundAndExpected) {
  const std::string images = fixture("idx/images-idx3-ubyte.gz");
  EXPECT_EQ(error_of([&] { data::load_idx(images, images); }),
            images + ": wrong IDX magic 0x00000803 (expected 0x00000801 for labels)");
}

struct IdxErrorCase {
  const char* name;
  std::function<void()> run;
  const char* message_part;
};

const std::vector<IdxErrorCase>& idx_error_cases() {
  auto images = [](const char* f) { return [f] { data::read_idx_images(fixture(f)); }; };
  auto load = [](const char* im, const char* lb) { return [im, lb] { data::load_idx(fixture(im), fixture(lb)); }; };
  static const std::vector<IdxErrorCase> cases = {
      {"missing file", images("idx/no-such-file"), "no-such-file: cannot open (No such file"},
      {"directory", images("idx"), "idx: is a directory"},
      {"short header", images("idx/short-header"), "short-header: truncated IDX header (2 bytes"},
      {"short extents", images("idx/short-extents"), "short-extents: truncated IDX header (4 of 12"},
      {"labels file as images", images("idx/labels-idx1-ubyte"),
       "wrong IDX magic 0x00000801 (expected 0x00000803 for images)"},
      {"not an IDX file", images("idx/bad-magic"), "bad-magic: wrong IDX magic 0x89504E47"},
      {"float elements", images("idx/float-images"), "float-images: wrong IDX magic 0x00000D03"},
      {"zero images", images("idx/zero-images"), "zero-images: IDX header has count = 0"},
      {"zero rows", images("idx/zero-rows"), "zero-rows: IDX header has rows = 0"},
      {"absurd extents", images("idx/huge-images.gz"), "huge-images.gz: IDX header declares more than"},
      {"truncated raw", images("idx/truncated-images"),
       "truncated-images: truncated: header declares 6 images (120 bytes of data) but the file holds 113"},
      {"truncated inside gzip", images("idx/truncated-images.gz"),
       "truncated-images.gz: truncated: header declares 6 images (120 bytes of data) but the file holds 113"},
      {"trailing raw", images("idx/trailing-images"), "trailing-images: 3 bytes of trailing data after the 6 images"},
      {"trailing inside gzip", images("idx/trailing-images.gz"), "trailing-images.gz: trailing data after the 6 images"},
      {"gzip stream cut", images("idx/cut-stream.gz"), "cut-stream.gz: truncated gzip stream (unexpected end of file)"},
      {"gzip stream corrupt", images("idx/corrupt-stream.gz"), "corrupt-stream.gz: corrupt gzip stream ("},
      {"count mismatch", load("idx/images-idx3-ubyte", "idx/five-labels"), "has 6 images but"},
      {"label out of range", load("idx/images-idx3-ubyte", "idx/label-out-of-range"),
       "label-out-of-range: label 10 at index 4 is outside [0, 10)"},
      {"num_classes 0", [] { data::load_idx(fixture("idx/images-idx3-ubyte"), fixture("idx/labels-idx1-ubyte"), {.num_classes = 0}); },
       "num_classes must be in [1, 256]"},
      {"class names count", [] { data::load_idx(fixture("idx/images-idx3-ubyte"), fixture("idx/labels-idx1-ubyte"), {.num_classes = 10, .class_names = {"a"}}); },
       "1 class names for 10 classes"},
  };
  return cases;
}

class IdxError : public testing::TestWithParam<size_t> {};

TEST_P(IdxError, IsReportedWithFileAndCause) {
  const IdxErrorCase& c = idx_error_cases()[GetParam()];
  std::string msg = error_of(c.run);
  EXPECT_NE(msg.find(c.message_part), std::string::npos) << c.name << ": " << msg;
}

INSTANTIATE_TEST_SUITE_P(Cases, IdxError, testing::Range<size_t>(0, idx_error_cases().size()),
                         [](const testing::TestParamInfo<size_t>& info) {
                           std::string n = idx_error_cases()[info.param].name;
                           std::replace_if(n.begin(), n.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
                           return n;
                         });

// ---- locating datasets --------------------------------------------------------------------------

TEST(Locate, FindsStandardNamesGzipOrRaw) {
  data::IdxFiles f = data::idx_files_in(fixture("idx_dir"));
  EXPECT_EQ(f.train_images, fixture("idx_dir/train-images-idx3-ubyte.gz"));
  EXPECT_EQ(f.train_labels, fixture("idx_dir/train-labels-idx1-ubyte.gz"));
  EXPECT_EQ(f.test_images, fixture("idx_dir/t10k-images-idx3-ubyte"));
  EXPECT_EQ(f.test_labels, fixture("idx_dir/t10k-labels-idx1-ubyte"));
  data::Dataset test = data::load_idx(f.test_images, f.test_labels);
  EXPECT_EQ(test.size(), 2);
  EXPECT_EQ(test.targets.data<int64_t>()[1], 2);
}

TEST(Locate, MissingFileIsNamed) {
  EXPECT_ERROR_HAS(data::idx_files_in(fixture("idx")), "train-images-idx3-ubyte[.gz]");
}

TEST(Locate, UnknownNameListsKnownOnes) {
  EXPECT_ERROR_HAS(data::locate_idx("cifar"), "unknown IDX dataset name 'cifar' (known: fashion-mnist, mnist)");
}

TEST(Locate, MnistTellsWhatToDo) {
  if (std::filesystem::exists(std::string(data::kDebianDatasetDir) + "/mnist")) GTEST_SKIP() << "an MNIST package exists";
  EXPECT_ERROR_HAS(data::locate_idx("mnist"), "Debian ships no MNIST package");
}

TEST(Locate, FashionMnistFromDebianPackage) {
  const std::string dir = std::string(data::kDebianDatasetDir) + "/fashion-mnist";
  if (!std::filesystem::exists(dir)) {
    EXPECT_ERROR_HAS(data::locate_idx("fashion-mnist"), "apt-get install dataset-fashion-mnist");
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  data::IdxFiles f = data::locate_idx("fashion-mnist");
  EXPECT_EQ(f.train_images, dir + "/train-images-idx3-ubyte.gz");
  data::Dataset train = data::load_idx(f.train_images, f.train_labels);
  data::Dataset test = data::load_idx(f.test_images, f.test_labels);
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.sample_shape, (descent::Shape{1, 28, 28}));
  EXPECT_EQ(train.targets.data<int64_t>()[0], 9);  // the first training image is an ankle boot
  // Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
  std::vector<int64_t> count(10, 0);
  for (int64_t i = 0; i < train.size(); ++i) ++count[static_cast<size_t>(train.targets.data<int64_t>()[i])];
  EXPECT_EQ(count, std::vector<int64_t>(10, 6000));
}

// ---- splits -------------------------------------------------------------------------------------

TEST(Split, PartsAreDisjointSortedAndCoverAll) {
  data::Dataset ds = make_dataset(cyclic_labels(1000, 10), 10);
  data::Split s = data::split(ds, {.val_fraction = 0.1, .test_fraction = 0.2, .seed = 3});
  EXPECT_EQ(s.val.size(), 100u);
  EXPECT_EQ(s.test.size(), 200u);
  EXPECT_EQ(s.train.size(), 700u);
  std::vector<int64_t> all;
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    all.insert(all.end(), part->begin(), part->end());
  }
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(1000);
  std::iota(expected.begin(), expected.end(), int64_t{0});
  EXPECT_EQ(all, expected);
}

TEST(Split, SameSeedSameSplitOtherSeedOther) {
  data::Dataset ds = make_dataset(cyclic_labels(500, 5), 5);
  data::Split a = data::split(ds, {.val_fraction = 0.2, .seed = 7});
  data::Split b = data::split(ds, {.val_fraction = 0.2, .seed = 7});
  data::Split c = data::split(ds, {.val_fraction = 0.2, .seed = 8});
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  EXPECT_TRUE(a.test.empty());
}

TEST(Split, StratifiedKeepsEachClassProportion) {
  // 600 / 300 / 100 samples of classes 0 / 1 / 2, interleaved.
  std::vector<int64_t> y;
  for (int i = 0; i < 100; ++i) y.insert(y.end(), {0, 0, 0, 0, 0, 0, 1, 1, 1, 2});
  data::Dataset ds = make_dataset(y, 3);
  data::Split s = data::split(ds, {.val_fraction = 0.2, .test_fraction = 0.1, .seed = 1, .stratify = true});
  auto per_class = [&](const std::vector<int64_t>& part) {
    std::vector<int64_t> c(3, 0);
    for (int64_t i : part) ++c[static_cast<size_t>(y[static_cast<size_t>(i)])];
    return c;
  };
  EXPECT_EQ(per_class(s.val), (std::vector<int64_t>{120, 60, 20}));
  EXPECT_EQ(per_class(s.test), (std::vector<int64_t>{60, 30, 10}));
  EXPECT_EQ(per_class(s.train), (std::vector<int64_t>{420, 210, 70}));
}

TEST(Split, StratifiedCountsAreFloorOrCeilAndTotalsRound) {
  // Classes of 7, 5 and 3 samples, half held out: exact shares 3.5, 2.5, 1.5; total round(7.5) = 8.
  std::vector<int64_t> y = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2};
  data::Dataset ds = make_dataset(y, 3);
  data::Split s = data::split(ds, {.val_fraction = 0.5, .seed = 2, .stratify = true});
  EXPECT_EQ(s.val.size(), 8u);
  std::vector<int64_t> c(3, 0);
  for (int64_t i : s.val) ++c[static_cast<size_t>(y[static_cast<size_t>(i)])];
  const double exact[] = {3.5, 2.5, 1.5};
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(c[static_cast<size_t>(k)] == static_cast<int64_t>(exact[k]) ||
                c[static_cast<size_t>(k)] == static_cast<int64_t>(exact[k]) + 1)
        << "class " << k << ": " << c[static_cast<size_t>(k)];
  }
}

TEST(Split, UnstratifiedIsNotSortedByClassByAccident) {
  // With 10 balanced classes a random 10 % should not be exactly balanced every time; a shuffled
  // selection is what distinguishes it from the stratified path.
  data::Dataset ds = make_dataset(cyclic_labels(1000, 10), 10);
  int balanced = 0;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    data::Split s = data::split(ds, {.val_fraction = 0.1, .seed = seed});
    std::vector<int64_t> c(10, 0);
    for (int64_t i : s.val) ++c[static_cast<size_t>(i % 10)];
    balanced += c == std::vector<int64_t>(10, 10);
  }
  EXPECT_LT(balanced, 5);
}

TEST(Split, Errors) {
  data::Dataset ds = make_dataset(cyclic_labels(10, 2), 2);
  EXPECT_ERROR_HAS(data::split(ds, {.val_fraction = -0.1}), "val_fraction must be in [0, 1), got -0.1");
  EXPECT_ERROR_HAS(data::split(ds, {.val_fraction = 1.0}), "val_fraction must be in [0, 1), got 1");
  EXPECT_ERROR_HAS(data::split(ds, {.test_fraction = 1.5}), "test_fraction must be in [0, 1), got 1.5");
  EXPECT_ERROR_HAS(data::split(ds, {.val_fraction = 0.5, .test_fraction = 0.5}), "leaves no training data");
  EXPECT_ERROR_HAS(data::split(ds, {.val_fraction = 0.01}), "val_fraction 0.01 of 10 samples gives an empty validation set");
  EXPECT_ERROR_HAS(data::split(ds, {.val_fraction = 0.3, .test_fraction = 0.01}), "gives an empty test set");
  EXPECT_ERROR_HAS(data::split(ds, {.val_fraction = 0.96, .test_fraction = 0.0}), "leaves no training data");
  data::Dataset reg = ds;
  reg.task = data::Task::Regression;
  EXPECT_ERROR_HAS(data::split(reg, {.val_fraction = 0.2, .stratify = true}), "stratify needs class labels");
  data::Dataset bad = make_dataset({0, 1, 5, 1}, 2);
  EXPECT_ERROR_HAS(data::split(bad, {.val_fraction = 0.25, .stratify = true}), "label 5 of sample 2 is outside [0, 2)");
}

// ---- loader -------------------------------------------------------------------------------------

TEST(Loader, BatchCountsWithAndWithoutDropLast) {
  data::Dataset ds = make_dataset(cyclic_labels(10, 2), 2);
  data::Loader keep(ds, {.batch_size = 4});
  data::Loader drop(ds, {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(keep.num_batches(), 3);
  EXPECT_EQ(drop.num_batches(), 2);
  Epoch k = drain(keep), d = drain(drop);
  ASSERT_EQ(k.xs.size(), 3u);
  EXPECT_EQ(k.xs[2].size(), 2u * 4u);  // the last batch holds the 2 remaining samples
  EXPECT_EQ(d.xs.size(), 2u);
}

TEST(Loader, EveryEpochVisitsEverySampleOnceInANewOrder) {
  data::Dataset ds = make_dataset(cyclic_labels(300, 3), 3);
  data::Loader loader(ds, {.batch_size = 32, .scale = 1.0});
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 3; ++e) {
    loader.start_epoch(e);
    Epoch ep = drain(loader);
    EXPECT_EQ(ep.samples, loader.order());
    std::vector<int64_t> sorted = ep.samples;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 300; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i);
    orders.push_back(ep.samples);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
}

TEST(Loader, LabelsFollowTheirSamples) {
  std::vector<int64_t> y(200);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<int64_t>((i * 7) % 10);
  data::Dataset ds = make_dataset(y, 10);
  data::Loader loader(ds, {.batch_size = 64, .seed = 5, .scale = 1.0});
  for (data::Batch b; loader.next(b);) {
    ASSERT_EQ(b.y.dtype(), DType::I64);
    for (int64_t r = 0; r < b.x.size(0); ++r) {
      EXPECT_EQ(b.y.data<int64_t>()[r], y[static_cast<size_t>(sample_of(b.x, r))]);
    }
  }
}

TEST(Loader, ConvertsEveryByteExactlyLikeDivisionBy255) {
  std::vector<int64_t> y(256, 0);
  data::Dataset ds = make_dataset(y, 1);
  for (int64_t i = 0; i < 256; ++i) ds.inputs.data<uint8_t>()[4 * i + 2] = static_cast<uint8_t>(i);  // pixel 2 = i
  for (DType dt : {DType::F32, DType::F64}) {
    data::Loader loader(ds, {.batch_size = 256, .shuffle = false, .dtype = dt});
    data::Batch b;
    ASSERT_TRUE(loader.next(b));
    ASSERT_EQ(b.x.dtype(), dt);
    ASSERT_EQ(b.x.shape(), (descent::Shape{256, 1, 2, 2}));
    for (int64_t i = 0; i < 256; ++i) {
      if (dt == DType::F32) {
        ASSERT_EQ(b.x.data<float>()[4 * i + 2], static_cast<float>(i) / 255.0f) << i;
      } else {
        ASSERT_DOUBLE_EQ(b.x.data<double>()[4 * i + 2], static_cast<double>(i) / 255.0) << i;
      }
    }
    EXPECT_FALSE(loader.next(b));
  }
}

TEST(Loader, FlattenGivesRows) {
  data::Dataset ds = make_dataset(cyclic_labels(5, 2), 2);
  data::Loader loader(ds, {.batch_size = 5, .shuffle = false, .flatten = true, .scale = 1.0});
  data::Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.x.shape(), (descent::Shape{5, 4}));
  EXPECT_EQ(b.x.to_vector()[4 * 3], 3.0);
  EXPECT_EQ(b.x.to_vector()[4 * 3 + 2], 7.0);
}

TEST(Loader, NoShuffleKeepsTheSubsetOrder) {
  data::Dataset ds = make_dataset(cyclic_labels(50, 2), 2);
  std::vector<int64_t> subset = {40, 3, 17, 3, 8};
  data::Loader loader(ds, {.batch_size = 2, .shuffle = false, .scale = 1.0}, subset);
  EXPECT_EQ(loader.num_samples(), 5);
  EXPECT_EQ(drain(loader).samples, subset);
}

TEST(Loader, ShuffledSubsetStaysInsideTheSubset) {
  data::Dataset ds = make_dataset(cyclic_labels(100, 2), 2);
  data::Split s = data::split(ds, {.val_fraction = 0.3, .seed = 4});
  data::Loader loader(ds, {.batch_size = 16, .seed = 9, .scale = 1.0}, s.val);
  std::vector<int64_t> seen = drain(loader).samples;
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, s.val);
}

TEST(Loader, SameSeedSameBatchesOtherSeedOther) {
  data::Dataset ds = make_dataset(cyclic_labels(100, 4), 4);
  data::LoaderOptions o{.batch_size = 8, .seed = 11, .scale = 1.0};
  data::Loader a(ds, o), b(ds, o), c(ds, {.batch_size = 8, .seed = 12, .scale = 1.0});
  for (int64_t e = 0; e < 2; ++e) {
    a.start_epoch(e);
    b.start_epoch(e);
    c.start_epoch(e);
    Epoch ea = drain(a), eb = drain(b), ec = drain(c);
    EXPECT_EQ(ea.xs, eb.xs);
    EXPECT_EQ(ea.ys, eb.ys);
    EXPECT_NE(ea.samples, ec.samples);
  }
}

TEST(Loader, EpochOrderDependsOnlyOnSeedAndEpoch) {
  data::Dataset ds = make_dataset(cyclic_labels(64, 4), 4);
  data::Loader walked(ds, {.batch_size = 8, .seed = 3});
  for (int64_t e = 0; e <= 4; ++e) {
    walked.start_epoch(e);
    drain(walked);
  }
  data::Loader jumped(ds, {.batch_size = 8, .seed = 3});
  jumped.start_epoch(4);
  EXPECT_EQ(walked.order(), jumped.order());
  EXPECT_NE(data::derive_seed(1, 0), data::derive_seed(0, 1));  // seed + epoch would collide here
}

TEST(Loader, ResumeMidEpochGivesTheSameRemainingBatches) {
  data::Dataset ds = make_dataset(cyclic_labels(103, 5), 5);
  data::LoaderOptions opt{.batch_size = 10, .seed = 21};
  data::Loader full(ds, opt);
  full.start_epoch(3);
  Epoch reference = drain(full);
  ASSERT_EQ(reference.xs.size(), 11u);

  data::Loader first(ds, opt);
  first.start_epoch(3);
  data::Batch b;
  for (int k = 0; k < 4; ++k) ASSERT_TRUE(first.next(b));
  data::LoaderState st = first.state();
  EXPECT_EQ(st.epoch, 3);
  EXPECT_EQ(st.position, 40);
  EXPECT_EQ(st.num_samples, 103);

  data::Loader resumed(ds, opt);  // a fresh process: epoch 0 prepared, then restored
  resumed.restore(st);
  Epoch rest = drain(resumed);
  ASSERT_EQ(rest.xs.size(), 7u);
  for (size_t k = 0; k < rest.xs.size(); ++k) {
    EXPECT_EQ(rest.xs[k], reference.xs[k + 4]) << "batch " << k + 4;
    EXPECT_EQ(rest.ys[k], reference.ys[k + 4]) << "batch " << k + 4;
  }
}

TEST(Loader, HeldBatchIsNotOverwrittenByTheNext) {
  data::Dataset ds = make_dataset(cyclic_labels(20, 2), 2);
  data::Loader loader(ds, {.batch_size = 5, .seed = 1});
  data::Batch first, second;
  ASSERT_TRUE(loader.next(first));
  Tensor kept = first.x;
  std::vector<double> before = kept.to_vector();
  ASSERT_TRUE(loader.next(first));
  ASSERT_TRUE(loader.next(second));
  EXPECT_EQ(kept.to_vector(), before);
}

TEST(Loader, BinaryAndRegressionTargetsAreFloatColumns) {
  data::Dataset bin = make_dataset({0, 1, 1, 0}, 2);
  bin.task = data::Task::Binary;
  data::Loader lb(bin, {.batch_size = 4, .shuffle = false, .dtype = DType::F64});
  data::Batch b;
  ASSERT_TRUE(lb.next(b));
  EXPECT_EQ(b.y.dtype(), DType::F64);
  EXPECT_EQ(b.y.shape(), (descent::Shape{4, 1}));
  EXPECT_EQ(b.y.to_vector(), (std::vector<double>{0, 1, 1, 0}));

  data::Dataset reg = make_dataset({0, 0, 0}, 0);
  reg.task = data::Task::Regression;
  reg.targets = descent::from_vector({1.5, -2, 3.25, 4, 0.5, -6}, {3, 2}, DType::F64);
  data::Loader lr(reg, {.batch_size = 2, .shuffle = false}, {2, 0, 1});
  ASSERT_TRUE(lr.next(b));
  EXPECT_EQ(b.y.dtype(), DType::F32);
  EXPECT_EQ(b.y.shape(), (descent::Shape{2, 2}));
  EXPECT_EQ(b.y.to_vector(), (std::vector<double>{0.5, -6, 1.5, -2}));
}

TEST(Loader, FloatInputsAreCopiedUnscaled) {
  data::Dataset ds = make_dataset({0, 1}, 2);
  ds.inputs = descent::from_vector({0.25, 1e6, -3, 0.125}, {2, 2}, DType::F64);
  ds.sample_shape = {2};
  data::Loader loader(ds, {.batch_size = 2, .shuffle = false, .dtype = DType::F32});
  data::Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.x.to_vector(), (std::vector<double>{0.25, 1e6, -3, 0.125}));
}

TEST(Loader, Errors) {
  data::Dataset ds = make_dataset(cyclic_labels(10, 2), 2);
  EXPECT_ERROR_HAS(data::Loader(ds, {.batch_size = 0}), "batch_size must be positive, got 0");
  EXPECT_ERROR_HAS(data::Loader(ds, {.dtype = DType::I64}), "loader dtype must be float32 or float64, got int64");
  EXPECT_ERROR_HAS(data::Loader(ds, {}, {1, 2, 10}), "loader: index 10 at position 2 is outside the dataset of 10 samples");
  EXPECT_ERROR_HAS(data::Loader(ds, {}, {-1}), "index -1 at position 0");
  EXPECT_ERROR_HAS(data::Loader(data::Dataset{}, {}), "loader over an empty Dataset");
  data::Dataset short_targets = ds;
  short_targets.targets = descent::zeros({9}, DType::I64);
  EXPECT_ERROR_HAS(data::Loader(short_targets, {}), "10 inputs but 9 targets");
  data::Dataset float_labels = ds;
  float_labels.targets = descent::zeros({10}, DType::F32);
  EXPECT_ERROR_HAS(data::Loader(float_labels, {}), "classification targets must be int64, got float32");
  data::Dataset wrong_shape = ds;
  wrong_shape.sample_shape = {3};
  EXPECT_ERROR_HAS(data::Loader(wrong_shape, {}), "sample shape [3] does not match inputs [10, 1, 2, 2]");
  data::Loader loader(ds, {.batch_size = 3});
  EXPECT_ERROR_HAS(loader.start_epoch(-1), "epoch must be non-negative, got -1");
  data::Loader other(ds, {.batch_size = 3}, {1, 2, 3});
  EXPECT_ERROR_HAS(loader.restore(other.state()), "loader state is for 3 samples per epoch, this loader has 10");
  EXPECT_ERROR_HAS(loader.restore({.epoch = 0, .position = 11, .seed = 0, .num_samples = 10}), "position 11");
}

TEST(Dataset, SubsetCopiesTheChosenSamples) {
  data::Dataset ds = make_dataset({0, 1, 2, 3, 4}, 5);
  data::Dataset sub = data::subset(ds, {4, 1});
  EXPECT_EQ(sub.size(), 2);
  EXPECT_EQ(sub.targets.to_vector(), (std::vector<double>{4, 1}));
  EXPECT_EQ(sub.inputs.data<uint8_t>()[0], 4);
  EXPECT_EQ(sub.inputs.data<uint8_t>()[4], 1);
  EXPECT_EQ(sub.class_names, ds.class_names);
  EXPECT_ERROR_HAS(data::subset(ds, {5}), "subset: index 5 at position 0");
}

TEST(Dataset, TaskNames) {
  EXPECT_STREQ(data::task_name(data::Task::Classification), "classification");
  EXPECT_STREQ(data::task_name(data::Task::Binary), "binary");
  EXPECT_STREQ(data::task_name(data::Task::Regression), "regression");
}

// ---- CSV parsing --------------------------------------------------------------------------------

namespace {

// Writes `text` to a fresh file in a per-process temp folder and returns its path.
std::string temp_file(const std::string& name, const std::string& text) {
  namespace fs = std::filesystem;
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("descent_data_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

std::vector<double> column(const data::Dataset& ds, int64_t f) {
  std::vector<double> all = ds.inputs.to_vector(), out;
  const int64_t row = ds.inputs.numel() / ds.size();
  for (int64_t r = 0; r < ds.size(); ++r) out.push_back(all[static_cast<size_t>(r * row + f)]);
  return out;
}

std::vector<int64_t> labels_of(const data::Dataset& ds) {
  return {ds.targets.data<int64_t>(), ds.targets.data<int64_t>() + ds.size()};
}

}  // namespace

TEST(Csv, HeaderNumbersAndStringLabels) {
  data::Dataset ds = data::load_csv(temp_file("basic.csv", "a,b,kind\n1,2.5,cat\n-3,4e2,dog\n5,+6,cat\n"), {});
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.inputs.dtype(), DType::F64);
  EXPECT_EQ(ds.sample_shape, (descent::Shape{2}));
  EXPECT_EQ(ds.inputs.to_vector(), (std::vector<double>{1, 2.5, -3, 400, 5, 6}));
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(labels_of(ds), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(ds.num_classes, 2);
  EXPECT_EQ(ds.feature_names, (std::vector<std::string>{"a", "b"}));
}

TEST(Csv, QuotesEmbeddedDelimitersNewlinesAndEscapes) {
  // Row 3's first field spans two lines, so the row after it starts on line 5.
  const std::string text =
      "name,x,label\n"
      "\"a,b\",1,\"say \"\"hi\"\"\"\n"
      "\"two\nlines\",2,plain\n"
      "  \"c\" ,3,plain\n";
  data::Dataset ds = data::load_csv(temp_file("quoted.csv", text), {.categorical = {"name"}, .encoding = data::Encoding::Label});
  EXPECT_EQ(ds.schema.categories[0], (std::vector<std::string>{"a,b", "c", "two\nlines"}));
  EXPECT_EQ(column(ds, 0), (std::vector<double>{0, 2, 1}));
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"plain", "say \"hi\""}));
  EXPECT_ERROR_HAS(data::load_csv(temp_file("quoted_bad.csv", text + "\"d\",x,plain\n"), {.categorical = {"name"}}),
                   "row 6, column 2 ('x'): 'x' is not a number");
}

TEST(Csv, CrlfBomAndBlankLinesReadLikePlainLf) {
  const std::string plain = "x,y\n1,a\n2,b\n";
  const std::string windows = "\xEF\xBB\xBFx,y\r\n\r\n1,a\r\n   \r\n2,b";  // BOM, CRLF, blank lines, no final newline
  data::Dataset a = data::load_csv(temp_file("lf.csv", plain), {});
  data::Dataset b = data::load_csv(temp_file("crlf.csv", windows), {});
  EXPECT_EQ(b.feature_names, (std::vector<std::string>{"x"}));
  EXPECT_EQ(a.inputs.to_vector(), b.inputs.to_vector());
  EXPECT_EQ(a.class_names, b.class_names);
  EXPECT_EQ(labels_of(a), labels_of(b));
}

TEST(Csv, WhitespaceTabSkipRowsAndColumnsByIndex) {
  data::Dataset ws = data::load_csv(fixture("csv/features.txt"), {.delimiter = "whitespace", .header = false, .task = data::Task::Regression},
                                    fixture("csv/targets.txt"));
  EXPECT_EQ(ws.inputs.shape(), (descent::Shape{4, 3}));
  EXPECT_EQ(column(ws, 2), (std::vector<double>{32.1, 21.6, 30.5, 25.3}));
  EXPECT_EQ(ws.targets.to_vector(), (std::vector<double>{151, 75, 141, 206}));
  EXPECT_EQ(ws.target_names, (std::vector<std::string>{"target"}));

  data::Dataset tsv = data::load_csv(fixture("csv/houses.tsv"),
                                     {.delimiter = "tab", .task = data::Task::Regression, .targets = {"price", "-1"}});
  EXPECT_EQ(tsv.targets.shape(), (descent::Shape{8, 2}));
  EXPECT_EQ(tsv.target_names, (std::vector<std::string>{"price", "rent"}));
  EXPECT_EQ(tsv.feature_names, (std::vector<std::string>{"rooms", "area"}));
  EXPECT_EQ(tsv.targets.to_vector()[2], 1000 * 42.5 + 5000 * 2);

  const std::string text = "# exported by a tool\n# 2 rows\n1;2;0\n3;4;1\n";
  data::Dataset skip = data::load_csv(temp_file("skip.csv", text), {.delimiter = ";", .header = false, .skip_rows = 2, .targets = {"0"}});
  EXPECT_EQ(skip.inputs.to_vector(), (std::vector<double>{2, 0, 4, 1}));
  EXPECT_EQ(labels_of(skip), (std::vector<int64_t>{1, 3}));  // integer labels are class indices
  EXPECT_EQ(skip.num_classes, 4);
}

TEST(Csv, GzipReadsLikeRaw) {
  data::CsvOptions o{.drop = {"id"}, .categorical = {"outlook"}};
  data::Dataset raw = data::load_csv(fixture("csv/weather.csv"), o);
  data::Dataset gz = data::load_csv(fixture("csv/weather.csv.gz"), o);
  EXPECT_EQ(raw.inputs.to_vector(), gz.inputs.to_vector());
  EXPECT_EQ(labels_of(raw), labels_of(gz));
}

TEST(Csv, DropAndOneHotAndLabelEncoding) {
  data::Dataset oh = data::load_csv(fixture("csv/weather.csv"), {.drop = {"0"}, .categorical = {"outlook"}});
  EXPECT_EQ(oh.feature_names, (std::vector<std::string>{"temp", "humidity", "outlook=overcast", "outlook=rain", "outlook=sunny"}));
  // Day 3 is overcast, day 4 rain, day 1 sunny.
  EXPECT_EQ(column(oh, 2)[2], 1.0);
  EXPECT_EQ(column(oh, 3)[3], 1.0);
  EXPECT_EQ(column(oh, 4)[0], 1.0);
  for (int64_t r = 0; r < oh.size(); ++r) EXPECT_EQ(column(oh, 2)[r] + column(oh, 3)[r] + column(oh, 4)[r], 1.0);
  EXPECT_EQ(oh.class_names, (std::vector<std::string>{"no", "yes"}));

  data::Dataset le = data::load_csv(fixture("csv/weather.csv"), {.drop = {"id"}, .categorical = {"outlook"}, .encoding = data::Encoding::Label});
  EXPECT_EQ(le.sample_shape, (descent::Shape{3}));
  EXPECT_EQ(column(le, 2)[0], 2.0);  // sunny = category 2 of (overcast, rain, sunny)
}

TEST(Csv, TestFileIsEncodedLikeTheTrainingFile) {
  data::CsvOptions o{.drop = {"id"}, .categorical = {"outlook"}};
  data::Dataset train = data::load_csv(fixture("csv/weather.csv"), o);
  // The test file has only overcast and sunny, and only "yes"/"no" in another order of appearance.
  data::Dataset test = data::load_csv(fixture("csv/weather_test.csv"), o, "", &train);
  EXPECT_EQ(test.feature_names, train.feature_names);
  EXPECT_EQ(column(test, 2), (std::vector<double>{1, 0}));  // overcast
  EXPECT_EQ(column(test, 4), (std::vector<double>{0, 1}));  // sunny
  EXPECT_EQ(labels_of(test), (std::vector<int64_t>{1, 0}));
  EXPECT_ERROR_HAS(data::load_csv(fixture("csv/weather_unseen.csv"), o, "", &train),
                   "weather_unseen.csv: row 3, column 4 ('outlook'): category 'snow' does not occur in the training file");
}

TEST(Csv, MissingValuesErrorConstantOrMean) {
  const std::string text = "a,b,y\n1,10,0\n,20,1\n3,NA,0\n5,?,1\n";
  const std::string path = temp_file("missing.csv", text);
  EXPECT_ERROR_HAS(data::load_csv(path, {}), "missing.csv: row 3, column 1 ('a'): missing value (empty field; set missing");
  data::Dataset c = data::load_csv(path, {.missing = data::Missing::Constant, .fill_value = -1});
  EXPECT_EQ(c.inputs.to_vector(), (std::vector<double>{1, 10, -1, 20, 3, -1, 5, -1}));
  data::Dataset m = data::load_csv(path, {.missing = data::Missing::Mean});
  EXPECT_TRUE(std::isnan(column(m, 0)[1]));
  EXPECT_ERROR_HAS(data::Loader(m, {}), "input feature 'a' of sample 1 is missing (NaN)");
  // Imputed with the mean of the training rows only: rows 0 and 1 (a = 1 and missing; b = 10, 20).
  data::Standardizer s = data::Standardizer::fit(m, {0, 1}, data::Scaling::None);
  EXPECT_EQ(s.fill(), (std::vector<double>{1.0, 15.0}));
  s.apply(m);
  EXPECT_EQ(m.inputs.to_vector(), (std::vector<double>{1, 10, 1, 20, 3, 15, 5, 15}));
  EXPECT_NO_THROW(data::Loader(m, {}));
}

TEST(Csv, LabelsClassNamesAndBinary) {
  const std::string ints = temp_file("ints.csv", "x,y\n1,0\n2,2\n3,1.0\n");
  data::Dataset d = data::load_csv(ints, {});
  EXPECT_EQ(labels_of(d), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"0", "1", "2"}));
  data::Dataset named = data::load_csv(ints, {.class_names = {"low", "mid", "high"}});
  EXPECT_EQ(labels_of(named), (std::vector<int64_t>{0, 2, 1}));
  EXPECT_EQ(named.class_names[2], "high");
  data::Dataset by_name = data::load_csv(temp_file("names.csv", "x,y\n1,high\n2,low\n"), {.class_names = {"low", "mid", "high"}});
  EXPECT_EQ(labels_of(by_name), (std::vector<int64_t>{2, 0}));
  EXPECT_ERROR_HAS(data::load_csv(temp_file("names2.csv", "x,y\n1,huge\n"), {.class_names = {"low", "high"}}),
                   "row 2, column 2 ('y'): label 'huge' is not one of the 2 classes (low, high)");

  data::Dataset bin = data::load_csv(temp_file("bin.csv", "x,y\n1,neg\n2,pos\n3,pos\n"), {.task = data::Task::Binary});
  EXPECT_EQ(bin.task, data::Task::Binary);
  EXPECT_EQ(bin.num_classes, 2);
  EXPECT_EQ(labels_of(bin), (std::vector<int64_t>{0, 1, 1}));
  EXPECT_ERROR_HAS(data::load_csv(temp_file("bin3.csv", "x,y\n1,a\n2,b\n3,c\n"), {.task = data::Task::Binary}),
                   "a binary task needs 2 classes, found 3 (a, b, c)");
  EXPECT_ERROR_HAS(data::load_csv(ints, {.task = data::Task::Binary}), "row 3, column 2 ('y'): binary label 2 is not 0 or 1");
}

TEST(Csv, SampleShapeMakesImages) {
  std::string text;
  for (int r = 0; r < 3; ++r) text += "1,2,3,4," + std::to_string(r) + "\n";
  const std::string path = temp_file("img.csv", text);
  data::Dataset ds = data::load_csv(path, {.header = false, .sample_shape = {1, 2, 2}});
  EXPECT_EQ(ds.inputs.shape(), (descent::Shape{3, 1, 2, 2}));
  EXPECT_ERROR_HAS(data::load_csv(path, {.header = false, .sample_shape = {1, 3, 3}}),
                   "sample_shape [1, 3, 3] holds 9 values but the file gives 4 features");
}

struct CsvErrorCase {
  const char* name;
  const char* text;
  data::CsvOptions options;
  const char* message_part;
};

const std::vector<CsvErrorCase>& csv_error_cases() {
  using data::CsvOptions;
  static const std::vector<CsvErrorCase> cases = {
      {"ragged row short", "a,b,c\n1,2,3\n4,5\n", {}, "row 3, column 3: missing field (the row has 2 fields, row 1 has 3)"},
      {"ragged row long", "a,b\n1,2\n3,4,5\n", {}, "row 3, column 3: extra field (the row has 3 fields, row 1 has 2)"},
      {"unclosed quote", "a,b\n1,\"open\n2,3\n", {}, "row 2, column 2: quoted field never closed"},
      {"text after closing quote", "a,b\n\"x\"y,1\n", {}, "row 2, column 1: unexpected character 'y' after a closing quote"},
      {"not a number", "a,b,y\n1,2,0\n3,abc,1\n", {}, "row 3, column 2 ('b'): 'abc' is not a number (list the column under categorical"},
      {"infinite", "a,y\ninf,0\n", {}, "row 2, column 1 ('a'): 'inf' is not a finite number"},
      {"empty file", "", {}, "no header row (the file is empty)"},
      {"header only", "a,b\n", {}, "no data rows"},
      {"unknown column", "a,b\n1,2\n", {.targets = {"c"}}, "no target column 'c' (columns: a, b)"},
      {"index out of range", "a,b\n1,2\n", {.drop = {"5"}}, "drop column index 5 is outside the 2 columns"},
      {"name without header", "1,2\n", {.header = false, .targets = {"y"}}, "target column 'y' is not an index and the file has no header"},
      {"target dropped", "a,b\n1,2\n", {.drop = {"b"}}, "column 2 ('b') is both a target and dropped"},
      {"categorical target", "a,b\n1,2\n", {.categorical = {"b"}}, "categorical column 2 ('b') is a target column, not an input"},
      {"no inputs", "a,b\n1,2\n", {.drop = {"a"}}, "no input columns left"},
      {"two labels", "a,b,c\n1,2,3\n", {.targets = {"b", "c"}}, "a classification task needs one label column, got 2"},
      {"missing label", "a,y\n1,\n", {}, "row 2, column 2 ('y'): missing label"},
      {"missing target", "a,y\n1,\n", {.task = data::Task::Regression}, "row 2, column 2 ('y'): missing target"},
      {"bad delimiter", "a,b\n", {.delimiter = "::"}, "delimiter must be one character, \"tab\" or \"whitespace\", got \"::\""},
      {"column names with header", "a,b\n1,2\n", {.column_names = {"x", "y"}}, "column_names are for files without a header row"},
      {"column names count", "1,2\n", {.header = false, .column_names = {"x"}}, "1 column_names for 2 columns"},
      {"negative skip", "a,b\n1,2\n", {.skip_rows = -1}, "skip_rows must be non-negative, got -1"},
      {"all categories missing", "a,b,y\n,1,0\n", {.categorical = {"a"}, .missing = data::Missing::Constant}, "categorical column 1 ('a') has no values"},
  };
  return cases;
}

class CsvError : public testing::TestWithParam<size_t> {};

TEST_P(CsvError, NamesRowAndColumn) {
  const CsvErrorCase& c = csv_error_cases()[GetParam()];
  const std::string path = temp_file("case" + std::to_string(GetParam()) + ".csv", c.text);
  std::string msg = error_of([&] { data::load_csv(path, c.options); });
  EXPECT_NE(msg.find(c.message_part), std::string::npos) << c.name << ": " << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
}

INSTANTIATE_TEST_SUITE_P(Cases, CsvError, testing::Range<size_t>(0, csv_error_cases().size()),
                         [](const testing::TestParamInfo<size_t>& info) {
                           std::string n = csv_error_cases()[info.param].name;
                           std::replace(n.begin(), n.end(), ' ', '_');
                           return n;
                         });

TEST(Csv, FileLevelErrors) {
  EXPECT_ERROR_HAS(data::load_csv(fixture("csv/features.txt"), {.delimiter = "whitespace", .header = false, .task = data::Task::Regression},
                                  fixture("csv/targets_short.txt")),
                   "targets_short.txt has 3 rows but");
  EXPECT_ERROR_HAS(data::load_csv(fixture("csv/no-such.csv"), {}), "no-such.csv: cannot open");
  EXPECT_ERROR_HAS(data::load_csv(fixture("csv/weather.csv"), {.drop = {"id"}}),
                   "weather.csv: row 2, column 4 ('outlook'): 'sunny' is not a number");
  data::Dataset train = data::load_csv(fixture("csv/weather.csv"), {.drop = {"id"}, .categorical = {"outlook"}});
  EXPECT_ERROR_HAS(data::load_csv(fixture("csv/weather_test.csv"), {.categorical = {"outlook"}}, "", &train),
                   "weather_test.csv: its input columns differ from those of the training file");
  EXPECT_ERROR_HAS(data::load_csv(fixture("csv/weather_test.csv"), {.targets = {"humidity"}, .drop = {"id", "outlook"}}, "", &train),
                   "input columns differ");
}

// ---- standardization ----------------------------------------------------------------------------

namespace {

// Tabular dataset from rows of features (float64) with class labels 0.
data::Dataset table(const std::vector<std::vector<double>>& rows) {
  data::Dataset ds = make_dataset(std::vector<int64_t>(rows.size(), 0), 1);
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  const auto n = static_cast<int64_t>(rows.size()), f = static_cast<int64_t>(rows[0].size());
  ds.inputs = descent::from_vector(flat, {n, f}, DType::F64);
  ds.sample_shape = {f};
  return ds;
}

}  // namespace

TEST(Standardize, StatisticsComeFromTheTrainingRowsOnly) {
  // Rows 0-3 are training rows; rows 4-5 are far away and must not move the statistics.
  data::Dataset ds = table({{1, 10}, {2, 10}, {3, 10}, {6, 10}, {1000, -50}, {2000, 70}});
  const std::vector<int64_t> train = {0, 1, 2, 3};
  data::Standardizer s = data::Standardizer::fit(ds, train, data::Scaling::Standard);
  double mean = (1 + 2 + 3 + 6) / 4.0, var = 0;
  for (double v : {1.0, 2.0, 3.0, 6.0}) var += (v - mean) * (v - mean) / 4.0;
  EXPECT_DOUBLE_EQ(s.shift()[0], mean);
  EXPECT_DOUBLE_EQ(s.scale()[0], std::sqrt(var));
  EXPECT_DOUBLE_EQ(s.shift()[1], 10.0);
  EXPECT_EQ(s.scale()[1], 1.0);  // constant on the training rows: left unscaled
  s.apply(ds);
  std::vector<double> a = column(ds, 0);
  double m = 0, v2 = 0;
  for (int64_t i : train) m += a[static_cast<size_t>(i)] / 4.0;
  for (int64_t i : train) v2 += a[static_cast<size_t>(i)] * a[static_cast<size_t>(i)] / 4.0;
  EXPECT_NEAR(m, 0.0, 1e-12);
  EXPECT_NEAR(v2, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(a[4], (1000 - mean) / std::sqrt(var));  // other rows use the training statistics

  data::Dataset again = table({{1, 10}, {2, 10}, {3, 10}, {6, 10}, {1000, -50}, {2000, 70}});
  data::Standardizer all = data::Standardizer::fit(again, {}, data::Scaling::Standard);
  EXPECT_NE(all.shift()[0], s.shift()[0]);
}

TEST(Standardize, MinMaxMapsTrainingRangeToUnitInterval) {
  data::Dataset ds = table({{-2, 5}, {6, 5}, {2, 5}, {10, 5}});
  data::Standardizer s = data::Standardizer::fit(ds, {0, 1, 2}, data::Scaling::MinMax);
  s.apply(ds);
  EXPECT_EQ(column(ds, 0), (std::vector<double>{0.0, 1.0, 0.5, 1.5}));
  EXPECT_EQ(column(ds, 1), (std::vector<double>{0, 0, 0, 0}));
}

TEST(Standardize, JsonRoundTripIsExactAndTransformsBatches) {
  data::Dataset ds = table({{0.1, 1e-7}, {0.7, 3e-7}, {1.0 / 3.0, 2e-7}});
  data::Standardizer s = data::Standardizer::fit(ds, {}, data::Scaling::Standard);
  data::Standardizer r = data::Standardizer::from_json(s.to_json());
  EXPECT_EQ(r.scaling(), data::Scaling::Standard);
  EXPECT_EQ(r.shift(), s.shift());  // bit-identical doubles
  EXPECT_EQ(r.scale(), s.scale());
  EXPECT_EQ(r.fill(), s.fill());
  Tensor batch = descent::from_vector({0.5, 2e-7}, {1, 2}, DType::F32);
  Tensor out = r.transform(batch);
  EXPECT_EQ(out.dtype(), DType::F32);
  EXPECT_FLOAT_EQ(static_cast<float>(out.to_vector()[0]), static_cast<float>((0.5f - s.shift()[0]) / s.scale()[0]));
  EXPECT_EQ(batch.to_vector()[0], 0.5);  // the input is left alone
  EXPECT_EQ(data::Standardizer().transform(batch).to_vector(), batch.to_vector());
}

TEST(Standardize, Errors) {
  data::Dataset images = make_dataset({0, 1}, 2);
  EXPECT_ERROR_HAS(data::Standardizer::fit(images, {}, data::Scaling::Standard), "images are scaled by the loader's scale");
  data::Dataset ds = table({{std::nan(""), 1}, {std::nan(""), 2}, {5, 3}});
  EXPECT_ERROR_HAS(data::Standardizer::fit(ds, {0, 1}, data::Scaling::Standard), "feature '0' has no value in the 2 training samples");
  EXPECT_ERROR_HAS(data::Standardizer::fit(ds, {7}, data::Scaling::Standard), "standardize: index 7 at position 0");
  data::Standardizer s = data::Standardizer::fit(ds, {}, data::Scaling::Standard);
  EXPECT_ERROR_HAS(s.transform(descent::zeros({2, 3})), "standardizer fitted on 2 features applied to [2, 3]");
  EXPECT_ERROR_HAS(data::Standardizer::from_json("{"), "standardizer: malformed JSON");
  EXPECT_ERROR_HAS(data::Standardizer::from_json(R"({"scaling":"standard","fill":[1],"shift":[1,2],"scale":[1]})"),
                   "fill, shift and scale differ in length (1, 2, 1)");
  EXPECT_ERROR_HAS(data::Standardizer::from_json(R"({"scaling":"standard","fill":[1],"shift":[1],"scale":[0]})"),
                   "scale 0 is not a positive number");
  EXPECT_ERROR_HAS(data::Standardizer::from_json(R"({"scaling":"zscore","fill":[],"shift":[],"scale":[]})"),
                   "unknown standardize \"zscore\" (choose one of: none, standard, minmax)");
}

TEST(Names, RoundTripAndUnknown) {
  for (auto t : {data::Task::Classification, data::Task::Binary, data::Task::Regression}) EXPECT_EQ(data::task_from_name(data::task_name(t)), t);
  for (auto m : {data::Missing::Error, data::Missing::Mean, data::Missing::Constant}) EXPECT_EQ(data::missing_from_name(data::missing_name(m)), m);
  for (auto e : {data::Encoding::OneHot, data::Encoding::Label}) EXPECT_EQ(data::encoding_from_name(data::encoding_name(e)), e);
  for (auto s : {data::Scaling::None, data::Scaling::Standard, data::Scaling::MinMax}) EXPECT_EQ(data::scaling_from_name(data::scaling_name(s)), s);
  EXPECT_ERROR_HAS(data::task_from_name("ranking"), "unknown task \"ranking\" (choose one of: classification, binary, regression)");
  EXPECT_ERROR_HAS(data::missing_from_name("zero"), "unknown missing \"zero\"");
  EXPECT_ERROR_HAS(data::encoding_from_name("hash"), "unknown encoding \"hash\"");
}

// ---- augmentation -------------------------------------------------------------------------------

namespace {

// A batch of B distinct 2x4x5 images (value = 1 + sample*100 + c*20 + y*5 + x, never 0).
Tensor image_batch(int64_t b) {
  std::vector<double> v;
  for (int64_t s = 0; s < b; ++s)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t x = 0; x < 5; ++x) v.push_back(static_cast<double>(1 + s * 100 + c * 20 + y * 5 + x));
  return descent::from_vector(v, {b, 2, 4, 5}, DType::F32);
}
const descent::Shape kImage = {2, 4, 5};

// in shifted by (dy, dx) and optionally mirrored, as augment_batch defines it.
std::vector<double> moved(const std::vector<double>& in, int64_t dy, int64_t dx, bool flip) {
  std::vector<double> out(in.size(), 0.0);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 5; ++x) {
        int64_t sy = y + dy, sx = (flip ? 4 - x : x) + dx;
        if (sy >= 0 && sy < 4 && sx >= 0 && sx < 5) out[static_cast<size_t>(c * 20 + y * 5 + x)] = in[static_cast<size_t>(c * 20 + sy * 5 + sx)];
      }
  return out;
}

std::vector<double> sample_values(const Tensor& x, int64_t s) {
  std::vector<double> all = x.to_vector();
  return {all.begin() + s * 40, all.begin() + (s + 1) * 40};
}

// True when sample s of `out` is sample s of `in` moved by some shift within `reach` (and flipped
// when allowed).
bool is_a_move(const Tensor& in, const Tensor& out, int64_t s, int64_t reach, bool flips) {
  for (int64_t dy = -reach; dy <= reach; ++dy)
    for (int64_t dx = -reach; dx <= reach; ++dx)
      for (bool flip : {false, true}) {
        if (flip && !flips) continue;
        if (moved(sample_values(in, s), dy, dx, flip) == sample_values(out, s)) return true;
      }
  return false;
}

}  // namespace

TEST(Augment, FlipMirrorsAboutHalfTheSamples) {
  Tensor in = image_batch(64), x = in.clone();
  descent::Generator gen(1);
  data::augment_batch(x, kImage, {.horizontal_flip = true}, gen);
  int flipped = 0;
  for (int64_t s = 0; s < 64; ++s) {
    bool same = sample_values(x, s) == sample_values(in, s);
    bool mirrored = sample_values(x, s) == moved(sample_values(in, s), 0, 0, true);
    EXPECT_TRUE(same || mirrored) << s;
    flipped += mirrored;
  }
  EXPECT_GT(flipped, 16);  // binomial(64, 1/2): outside [17, 47] with probability < 1e-4
  EXPECT_LT(flipped, 48);
}

TEST(Augment, CropAndTranslationAreShiftsWithinReach) {
  Tensor in = image_batch(32);
  Tensor crop = in.clone(), shift = in.clone(), both = in.clone();
  descent::Generator g1(2), g2(2), g3(2);
  data::augment_batch(crop, kImage, {.crop_padding = 1}, g1);
  data::augment_batch(shift, kImage, {.max_translation = 2}, g2);
  data::augment_batch(both, kImage, {.crop_padding = 1, .horizontal_flip = true, .max_translation = 1}, g3);
  int changed = 0;
  for (int64_t s = 0; s < 32; ++s) {
    EXPECT_TRUE(is_a_move(in, crop, s, 1, false)) << s;
    EXPECT_TRUE(is_a_move(in, shift, s, 2, false)) << s;
    EXPECT_TRUE(is_a_move(in, both, s, 2, true)) << s;
    changed += sample_values(crop, s) != sample_values(in, s);
  }
  EXPECT_GT(changed, 16);  // 8 of the 9 shifts move the image
}

TEST(Augment, SameSeedSameResultOtherSeedOther) {
  data::AugmentOptions o{.crop_padding = 2, .horizontal_flip = true};
  Tensor a = image_batch(16), b = image_batch(16), c = image_batch(16);
  descent::Generator ga(5), gb(5), gc(6);
  data::augment_batch(a, kImage, o, ga);
  data::augment_batch(b, kImage, o, gb);
  data::augment_batch(c, kImage, o, gc);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());
}

TEST(Augment, Errors) {
  Tensor x = image_batch(2);
  descent::Generator gen(0);
  EXPECT_ERROR_HAS(data::augment_batch(x, kImage, {.crop_padding = -1}, gen), "must be non-negative, got -1 and 0");
  Tensor flat = descent::zeros({2, 40});
  EXPECT_ERROR_HAS(data::augment_batch(flat, {40}, {.horizontal_flip = true}, gen), "augmentation needs image samples [C, H, W], got [40]");
  Tensor wrong = descent::zeros({2, 3});
  EXPECT_ERROR_HAS(data::augment_batch(wrong, kImage, {.horizontal_flip = true}, gen), "batch [2, 3] does not hold samples of [2, 4, 5]");
  data::Dataset tab = table({{1, 2}, {3, 4}});
  EXPECT_ERROR_HAS(data::Loader(tab, {.augment = {.horizontal_flip = true}}), "augmentation needs image samples");
}

TEST(Augment, LoaderAugmentsDeterministicallyAndOnlyWhenAsked) {
  data::Dataset ds = make_dataset(cyclic_labels(40, 2), 2);
  ds.inputs = descent::empty({40, 1, 2, 2}, DType::U8);
  for (int64_t i = 0; i < 160; ++i) ds.inputs.data<uint8_t>()[i] = static_cast<uint8_t>(1 + i);
  data::LoaderOptions aug{.batch_size = 8, .seed = 3, .augment = {.horizontal_flip = true, .max_translation = 1}};
  data::LoaderOptions plain{.batch_size = 8, .seed = 3};
  data::Loader a(ds, aug), b(ds, aug), p(ds, plain);
  a.start_epoch(1);
  b.start_epoch(1);
  p.start_epoch(1);
  Epoch ea = drain(a), eb = drain(b), ep = drain(p);
  EXPECT_EQ(ea.xs, eb.xs);
  EXPECT_EQ(ea.ys, ep.ys);  // same order and labels; only the pixels move
  EXPECT_NE(ea.xs, ep.xs);
}

// ---- prefetching loader -------------------------------------------------------------------------

TEST(Prefetch, SameBatchesAsTheSynchronousLoaderWhateverTheTiming) {
  data::Dataset ds = make_dataset(cyclic_labels(203, 7), 7);
  data::LoaderOptions sync{.batch_size = 16, .seed = 8, .augment = {.crop_padding = 1, .horizontal_flip = true}};
  data::LoaderOptions ahead = sync;
  ahead.prefetch = true;
  data::Loader s(ds, sync), p(ds, ahead);
  descent::Generator jitter(0);
  for (int64_t e = 0; e < 3; ++e) {
    s.start_epoch(e);
    p.start_epoch(e);
    Epoch es = drain(s);
    Epoch ep;
    for (data::Batch b; p.next(b);) {
      // A consumer slower or faster than the worker, at random.
      std::this_thread::sleep_for(std::chrono::microseconds(jitter.below(300)));
      ep.xs.push_back(b.x.to_vector());
      ep.ys.push_back(b.y.to_vector());
    }
    ASSERT_EQ(ep.xs.size(), 13u);
    EXPECT_EQ(ep.xs, es.xs) << "epoch " << e;
    EXPECT_EQ(ep.ys, es.ys) << "epoch " << e;
  }
}

TEST(Prefetch, RestartAndResumeMidEpoch) {
  data::Dataset ds = make_dataset(cyclic_labels(100, 4), 4);
  data::LoaderOptions opt{.batch_size = 10, .seed = 4, .drop_last = true, .augment = {.max_translation = 1}, .prefetch = true};
  data::Loader ref(ds, opt);
  ref.start_epoch(2);
  Epoch full = drain(ref);

  data::Loader p(ds, opt);
  data::Batch b;
  ASSERT_TRUE(p.next(b));  // abandon epoch 0 after one batch, with batches made ahead
  p.start_epoch(2);
  for (int k = 0; k < 3; ++k) ASSERT_TRUE(p.next(b));
  EXPECT_EQ(b.x.to_vector(), full.xs[2]);
  data::LoaderState st = p.state();
  EXPECT_EQ(st.position, 30);

  data::Loader resumed(ds, opt);
  resumed.restore(st);
  Epoch rest = drain(resumed);
  ASSERT_EQ(rest.xs.size(), 7u);
  for (size_t k = 0; k < 7; ++k) EXPECT_EQ(rest.xs[k], full.xs[k + 3]) << k;
  EXPECT_FALSE(resumed.next(b));  // stays at the end
}

TEST(Prefetch, DestroyingMidEpochDoesNotHang) {
  data::Dataset ds = make_dataset(cyclic_labels(1000, 2), 2);
  for (int k = 0; k < 20; ++k) {
    data::Loader p(ds, {.batch_size = 4, .prefetch = true});
    data::Batch b;
    ASSERT_TRUE(p.next(b));
  }
  data::Loader moved_from(ds, {.batch_size = 4, .prefetch = true});
  data::Loader moved_to = std::move(moved_from);
  data::Batch b;
  EXPECT_TRUE(moved_to.next(b));
}

// ---- named tabular datasets (python3-sklearn) ---------------------------------------------------

TEST(Sklearn, NamedDatasetsLoadWithTheirShapesAndClasses) {
  if (!std::filesystem::exists(std::string(data::kSklearnDataDir) + "/wine_data.csv")) {
    EXPECT_ERROR_HAS(data::locate_table("wine"), "apt-get install python3-sklearn");
    GTEST_SKIP() << "python3-sklearn is not installed";
  }
  struct Expect {
    const char* name;
    int64_t n;
    descent::Shape sample;
    data::Task task;
    int64_t classes;
  };
  for (const Expect& e : {Expect{"iris", 150, {4}, data::Task::Classification, 3},
                          Expect{"wine", 178, {13}, data::Task::Classification, 3},
                          Expect{"breast_cancer", 569, {30}, data::Task::Binary, 2},
                          Expect{"diabetes", 442, {10}, data::Task::Regression, 0},
                          Expect{"digits", 1797, {1, 8, 8}, data::Task::Classification, 10}}) {
    data::TableSource src = data::locate_table(e.name);
    data::Dataset ds = data::load_csv(src.path, src.options, src.targets_path);
    EXPECT_EQ(ds.size(), e.n) << e.name;
    EXPECT_EQ(ds.sample_shape, e.sample) << e.name;
    EXPECT_EQ(ds.task, e.task) << e.name;
    EXPECT_EQ(ds.num_classes, e.classes) << e.name;
  }
  data::TableSource bc = data::locate_table("breast_cancer");
  data::Dataset ds = data::load_csv(bc.path, bc.options);
  EXPECT_EQ(ds.class_names, (std::vector<std::string>{"malignant", "benign"}));
  EXPECT_EQ(ds.feature_names[0], "mean radius");
  EXPECT_EQ(ds.feature_names[29], "worst fractal dimension");
  // sklearn documents 212 malignant and 357 benign samples.
  std::vector<int64_t> y = labels_of(ds);
  EXPECT_EQ(std::count(y.begin(), y.end(), 0), 212);
  data::TableSource di = data::locate_table("diabetes");
  data::Dataset diabetes = data::load_csv(di.path, di.options, di.targets_path);
  EXPECT_EQ(diabetes.targets.to_vector()[0], 151.0);  // the first target of sklearn's diabetes
  EXPECT_EQ(column(diabetes, 2)[0], 32.1);           // and the first bmi
}

TEST(Sklearn, UnknownName) {
  EXPECT_ERROR_HAS(data::locate_table("titanic"), "unknown tabular dataset name 'titanic' (known: iris, wine, breast_cancer, diabetes, digits)");
}

// ---- prepare (the [data] section) ---------------------------------------------------------------

TEST(Prepare, IdxFromDirWithValidationSplit) {
  data::PreparedData p = data::prepare({.format = "idx", .dir = fixture("idx_dir"), .val_fraction = 0.5, .seed = 1});
  EXPECT_EQ(p.train.size(), 6);
  EXPECT_EQ(p.train_indices.size() + p.val_indices.size(), 6u);
  EXPECT_EQ(p.val_indices.size(), 3u);
  EXPECT_EQ(p.test.size(), 2);
  EXPECT_EQ(p.test_indices, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(p.standardizer.num_features(), 0);
}

TEST(Prepare, CsvWithFractionsFitsStandardizationOnTrainingRowsOnly) {
  data::DataOptions o{.format = "csv", .train_file = fixture("csv/houses.tsv"),
                      .csv = {.delimiter = "tab", .task = data::Task::Regression, .targets = {"price"}, .drop = {"rent"}},
                      .val_fraction = 0.25, .test_fraction = 0.25, .seed = 2, .standardize = data::Scaling::Standard};
  data::PreparedData p = data::prepare(o);
  EXPECT_EQ(p.train_indices.size(), 4u);
  EXPECT_EQ(p.val_indices.size(), 2u);
  EXPECT_EQ(p.test_indices.size(), 2u);
  EXPECT_TRUE(p.test.inputs.is_same(p.train.inputs));  // a split of one file shares its tensors
  data::Dataset raw = data::load_csv(o.train_file, o.csv);
  data::Standardizer expected = data::Standardizer::fit(raw, p.train_indices, data::Scaling::Standard);
  EXPECT_EQ(p.standardizer.shift(), expected.shift());
  EXPECT_EQ(p.standardizer.scale(), expected.scale());
  EXPECT_DOUBLE_EQ(column(p.train, 1)[3], (column(raw, 1)[3] - expected.shift()[1]) / expected.scale()[1]);
}

TEST(Prepare, CsvWithTestFileAndStratifiedValidation) {
  data::PreparedData p = data::prepare({.format = "csv", .train_file = fixture("csv/weather.csv"), .test_file = fixture("csv/weather_test.csv"),
                                        .csv = {.drop = {"id"}, .categorical = {"outlook"}}, .val_fraction = 0.25,
                                        .seed = 0, .standardize = data::Scaling::MinMax});
  EXPECT_EQ(p.test.size(), 2);
  EXPECT_EQ(p.test.feature_names, p.train.feature_names);
  // 4 "no" and 8 "yes" days: a stratified quarter holds 1 and 2.
  std::vector<int64_t> y = labels_of(p.train);
  int64_t no = 0;
  for (int64_t i : p.val_indices) no += y[static_cast<size_t>(i)] == 0;
  EXPECT_EQ(p.val_indices.size(), 3u);
  EXPECT_EQ(no, 1);
  EXPECT_EQ(column(p.test, 2), (std::vector<double>{1, 0}));  // one-hot columns pass min-max unchanged
}

TEST(Prepare, NamedSklearnDataset) {
  if (!std::filesystem::exists(std::string(data::kSklearnDataDir) + "/iris.csv")) GTEST_SKIP() << "python3-sklearn is not installed";
  data::PreparedData p = data::prepare({.name = "iris", .test_fraction = 0.2, .standardize = data::Scaling::Standard});
  EXPECT_EQ(p.test_indices.size(), 30u);
  EXPECT_EQ(p.train.class_names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  std::vector<int64_t> y = labels_of(p.train);
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_EQ(std::count_if(p.test_indices.begin(), p.test_indices.end(), [&](int64_t i) { return y[static_cast<size_t>(i)] == c; }), 10);
  }
  EXPECT_ERROR_HAS(data::prepare({.name = "iris", .csv = {.delimiter = ";"}}), "name = \"iris\" fixes how its file is read; remove delimiter");
}

TEST(Prepare, Errors) {
  EXPECT_ERROR_HAS(data::prepare({.format = "parquet"}), "unknown format \"parquet\" (choose one of: idx, csv)");
  EXPECT_ERROR_HAS(data::prepare({.format = "idx"}), "needs name, dir, or all four files; train_images is not set");
  EXPECT_ERROR_HAS(data::prepare({.name = "fashion-mnist", .dir = "x"}), "set either name or dir/files, not both");
  EXPECT_ERROR_HAS(data::prepare({.dir = "x", .train_images = "y"}), "set either dir or the four");
  EXPECT_ERROR_HAS(data::prepare({.dir = fixture("idx_dir"), .test_fraction = 0.1}), "test_fraction does not apply to IDX data");
  EXPECT_ERROR_HAS(data::prepare({.dir = fixture("idx_dir"), .standardize = data::Scaling::Standard}), "standardize applies to tabular data");
  EXPECT_ERROR_HAS(data::prepare({.format = "csv"}), "format \"csv\" needs name or train_file");
  EXPECT_ERROR_HAS(data::prepare({.format = "csv", .train_file = "a", .test_file = "b", .test_fraction = 0.2}),
                   "set either test_file or test_fraction, not both");
  EXPECT_ERROR_HAS(data::prepare({.name = "wine", .train_file = "a"}), "set either name or train_file, not both");
  EXPECT_ERROR_HAS(data::prepare({.dir = fixture("idx_dir"), .train_file = "a.csv"}), "train_file does not apply to IDX data");
  EXPECT_ERROR_HAS(data::prepare({.dir = fixture("idx_dir"), .csv = {.categorical = {"a"}}}), "categorical does not apply to IDX data");
  EXPECT_ERROR_HAS(data::prepare({.format = "csv", .dir = "x", .train_file = "a.csv"}), "dir does not apply to CSV data");
}

// Tests of descent/data.h, images and batches: IDX reading and its errors, locating datasets,
// splits, the loader (determinism, resume), augmentation and the prefetching loader. Tabular data
// (CSV, standardization, prepare) is in data_tabular_test.cpp; shared helpers in data_test_util.h.
//
// Fixtures live in tests/data/ and are written by tests/data/make_idx_fixtures.py. To add a
// bad-input case: add the file to the script, run it, and add a row to idx_error_cases() with a
// substring the message must contain — every row is one test. Other cases build small datasets
// in memory with make_dataset().
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <thread>

#include "data/gather.h"
#include "data_test_util.h"

namespace data = descent::data;
using descent::DType;
using descent::Tensor;
using namespace data_test;

namespace {

// The fixture's definition (see make_idx_fixtures.py): 6 images of 4x5, pixel k of image i.
constexpr int64_t kN = 6, kRows = 4, kCols = 5;
uint8_t fixture_pixel(int64_t i, int64_t k) { return static_cast<uint8_t>((37 * i + k) % 256); }
const std::vector<int64_t> kFixtureLabels = {3, 1, 4, 1, 5, 9};

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
  EXPECT_EQ(descent_test::error_of([&] { data::load_idx(images, images); }),
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
  std::string msg = descent_test::error_of(c.run);
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

// The conversion has a vectorized path (AVX-512, chosen at run time) and a scalar one; both must
// give exactly static_cast<Dst>(double(v) * scale) for every byte, every scale and every row
// length (a row is converted 8 at a time and its tail one by one), so training runs do not
// depend on the machine.
TEST(Loader, GatherConvertIsBitIdenticalToTheScalarRule) {
  const int64_t n = 8;
  for (int64_t row : {784, 37, 7, 1}) {
    auto src = descent::empty({n, row}, DType::U8);
    uint8_t* sp = src.data<uint8_t>();
    for (int64_t i = 0; i < n * row; ++i) sp[i] = static_cast<uint8_t>((i * 131 + i / 256) % 256);  // every byte
    const std::vector<int64_t> idx = {5, 0, 7, 7, 2};
    for (double scale : {1.0 / 255.0, 1.0, 0.1, 3.7e-3, -2.5e-41, 1e300}) {
      auto f = descent::empty({5, row}, DType::F32);
      auto d = descent::empty({5, row}, DType::F64);
      data::gather_convert(src, idx.data(), 5, row, scale, f);
      data::gather_convert(src, idx.data(), 5, row, scale, d);
      for (int64_t b = 0; b < 5; ++b)
        for (int64_t k = 0; k < row; ++k) {
          const double want = static_cast<double>(sp[idx[b] * row + k]) * scale;
          const float want_f = static_cast<float>(want);
          const float got_f = f.data<float>()[b * row + k];
          const double got_d = d.data<double>()[b * row + k];
          ASSERT_EQ(std::memcmp(&got_f, &want_f, sizeof got_f), 0) << "row " << row << " scale " << scale << " at " << k;
          ASSERT_EQ(std::memcmp(&got_d, &want, sizeof got_d), 0) << "row " << row << " scale " << scale << " at " << k;
        }
    }
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

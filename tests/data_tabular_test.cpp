// Tests of descent/data.h, tabular data: the CSV/TSV reader (parser edge cases, column roles,
// categories, missing values, labels), standardization, the sklearn datasets and prepare().
//
// Fixtures: tests/data/csv/, written by tests/data/make_csv_fixtures.py; parser cases write their
// text to a temp file (temp_file) so the input is visible in the test. To add a parse error: add
// a row {name, text, options, message part} to csv_error_cases() — every row is one test.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "data_test_util.h"

namespace data = descent::data;
using descent::DType;
using descent::Tensor;
using namespace data_test;

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

}  // namespace

// ---- CSV parsing --------------------------------------------------------------------------------

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
      {"missing label", "a,y\n1,\n", {}, "row 2, column 2 ('y'): missing label ''"},
      {"label marked missing", "a,y\n1,NA\n", {}, "row 2, column 2 ('y'): missing label 'NA'"},
      {"missing target", "a,y\n1,?\n", {.task = data::Task::Regression}, "row 2, column 2 ('y'): missing target '?'"},
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
  std::string msg = descent_test::error_of([&] { data::load_csv(path, c.options); });
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

TEST(Sklearn, MissingPackageNamesTheFileAndThePackage) {
  // A folder without sklearn's files stands for a machine without python3-sklearn.
  const std::string empty_dir = (std::filesystem::temp_directory_path() / "descent_no_sklearn_here").string();
  const std::pair<const char*, const char*> files[] = {{"iris", "iris.csv"}, {"wine", "wine_data.csv"},
                                                       {"breast_cancer", "breast_cancer.csv"},
                                                       {"diabetes", "diabetes_data_raw.csv.gz"}, {"digits", "digits.csv.gz"}};
  for (const auto& [name, file] : files) {
    std::string msg = descent_test::error_of([&] { data::locate_table(name, empty_dir); });
    EXPECT_NE(msg.find(std::string("dataset '") + name + "' not found: " + empty_dir + "/" + file + " is missing"), std::string::npos) << msg;
    EXPECT_NE(msg.find("install the Debian package python3-sklearn (apt-get install python3-sklearn)"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
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

// tests/hpo_test.cpp — hyper-parameter search: study files, samplers, pruners, storage, driver.
//
// How to add a case:
// - a study-file error: one row in kBadStudies (a snippet and the field the message must name);
// - a pruning rule: a hand-built table in the Median*/Asha* tests with the decision worked out
//   by hand in a comment, or a case in scripts/hpo_optuna_reference.py (regenerate the JSON);
// - driver behaviour: a mode of tests/data/hpo/fake_trainer.sh and a Driver* test around it.
#include "descent/hpo.h"
#include "diag_test_util.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "descent/error.h"
#include "hpo/storage.h"
#include "hpo/trial_output.h"
#include "process_test_util.h"

namespace hpo = descent::hpo;
namespace fs = std::filesystem;
using hpo::ParamKind;
using hpo::TrialState;

namespace {

const fs::path kData = fs::path(DESCENT_TEST_DATA) / "hpo";

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int count_lines(const fs::path& file) {
  std::ifstream in(file);
  int n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

// A fresh folder per test under the system temp dir, removed afterwards.
struct TempDir : process_test::TempDir {
  TempDir() : process_test::TempDir("hpo") {}
};

hpo::Trial complete(int number, double value, std::map<int, double> curve = {}, hpo::Params params = {}) {
  return hpo::Trial{.number = number,
                    .state = TrialState::Complete,
                    .params = std::move(params),
                    .value = value,
                    .intermediate = std::move(curve)};
}

hpo::SearchSpace every_kind_space() {
  hpo::SearchSpace s{.params = {
                         {.name = "opt", .kind = ParamKind::Categorical, .choices = {"sgd", "adam"}},
                         {.name = "lr", .kind = ParamKind::LogUniform, .low = 1e-4, .high = 1.0},
                         {.name = "momentum",
                          .kind = ParamKind::Uniform,
                          .low = 0.5,
                          .high = 0.99,
                          .conditions = {{.param = "opt", .values = {"sgd"}}}},
                         {.name = "wd", .kind = ParamKind::Uniform, .low = 0.0, .high = 0.01, .step = 0.0025},
                         {.name = "width", .kind = ParamKind::Int, .low = 8, .high = 64, .step = 8},
                         {.name = "batch", .kind = ParamKind::Int, .low = 1, .high = 1024, .step = 1, .log = true},
                         {.name = "nesterov",
                          .kind = ParamKind::Categorical,
                          .choices = {true, false},
                          .conditions = {{.param = "opt", .values = {"sgd"}}}},
                     }};
  hpo::validate(s);
  hpo::order_by_conditions(s);
  return s;
}

std::vector<hpo::Params> draw(hpo::Sampler& sampler, const hpo::SearchSpace& space, int n) {
  std::vector<hpo::Params> out;
  std::vector<hpo::Trial> none;
  for (int i = 0; i < n; ++i) out.push_back(sampler.sample(space, {.trials = none}, i).value());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Study files

TEST(HpoStudyFile, ReadsEveryKindOfParameter) {
  const hpo::Study s = hpo::load_study(kData / "study.toml");
  EXPECT_EQ(s.name, "study");
  EXPECT_EQ(s.base, kData / "base.toml");
  EXPECT_EQ(s.metric, "val_acc");
  EXPECT_EQ(s.direction, hpo::Direction::Maximize);
  EXPECT_EQ(s.trials, 64);
  EXPECT_EQ(s.seed, 7u);
  ASSERT_TRUE(std::holds_alternative<hpo::TpeOptions>(s.sampler));
  EXPECT_EQ(std::get<hpo::TpeOptions>(s.sampler).n_startup_trials, 8);
  EXPECT_EQ(std::get<hpo::TpeOptions>(s.sampler).seed, 7u);  // the study's seed reaches the sampler
  ASSERT_TRUE(std::holds_alternative<hpo::AshaOptions>(s.pruner));
  EXPECT_EQ(std::get<hpo::AshaOptions>(s.pruner).reduction_factor, 4);

  std::map<std::string, const hpo::ParamSpec*> by_name;
  for (const auto& p : s.space.params) by_name[p.name] = &p;
  ASSERT_EQ(by_name.size(), 7u);
  EXPECT_EQ(by_name["optimizer.lr"]->kind, ParamKind::LogUniform);
  EXPECT_DOUBLE_EQ(by_name["optimizer.lr"]->low, 1e-3);
  EXPECT_EQ(by_name["model.layers.0.out_features"]->choices,
            (std::vector<hpo::Value>{std::int64_t{64}, std::int64_t{128}, std::int64_t{256}, std::int64_t{512}}));
  EXPECT_TRUE(by_name["train.batch_size"]->log);
  EXPECT_EQ(by_name["train.epochs"]->step, 2);
  EXPECT_EQ(by_name["optimizer.weight_decay"]->step, 0.001);  // from [space.optimizer.weight_decay]
  ASSERT_EQ(by_name["optimizer.momentum"]->conditions.size(), 1u);
  EXPECT_EQ(by_name["optimizer.momentum"]->conditions[0].param, "optimizer.type");
  // A conditional parameter comes after the one it depends on.
  auto pos = [&](std::string_view n) {
    return std::find_if(s.space.params.begin(), s.space.params.end(), [&](auto& p) { return p.name == n; }) -
           s.space.params.begin();
  };
  EXPECT_LT(pos("optimizer.type"), pos("optimizer.momentum"));
}

struct BadStudy {
  const char* name;
  const char* toml;   // appended to a valid header unless it starts with '!'
  const char* field;  // the message must contain it
};

// A valid study is kHeader + kSpace; each row breaks one thing.
constexpr const char* kHeader = "base = \"base.toml\"\nmetric = \"val_acc\"\ndirection = \"maximize\"\ntrials = 4\n";
constexpr const char* kSpace = "[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0 }\n";

const BadStudy kBadStudies[] = {
    {"unknown_top_key", "tirals = 3\n", "tirals"},
    {"unknown_param_key", "[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0, hihg = 2.0 }\n",
     "space.\"x\".hihg"},
    {"unknown_type", "[space]\nx = { type = \"normal\", low = 0.0, high = 1.0 }\n", "space.\"x\".type"},
    {"missing_type", "[space]\nx = { low = 0.0, high = 1.0 }\n", "space.\"x\".type"},
    {"low_not_number", "[space]\nx = { type = \"uniform\", low = \"a\", high = 1.0 }\n", "space.\"x\".low"},
    {"low_ge_high", "[space]\nx = { type = \"uniform\", low = 2.0, high = 1.0 }\n", "space.\"x\".low"},
    {"missing_high", "[space]\nx = { type = \"uniform\", low = 0.0 }\n", "space.\"x\".high"},
    {"log_nonpositive", "[space]\nx = { type = \"loguniform\", low = 0.0, high = 1.0 }\n", "space.\"x\".low"},
    {"int_float_bound", "[space]\nx = { type = \"int\", low = 1.5, high = 4 }\n", "space.\"x\".low"},
    {"int_bad_step", "[space]\nx = { type = \"int\", low = 1, high = 4, step = 0 }\n", "space.\"x\".step"},
    {"int_log_step", "[space]\nx = { type = \"int\", low = 1, high = 64, step = 2, log = true }\n", "space.\"x\".step"},
    {"int_log_zero", "[space]\nx = { type = \"int\", low = 0, high = 64, log = true }\n", "space.\"x\".low"},
    {"step_too_big", "[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0, step = 2.0 }\n", "space.\"x\".step"},
    {"log_on_uniform", "[space]\nx = { type = \"uniform\", low = 1.0, high = 2.0, log = true }\n", "space.\"x\".log"},
    {"no_choices", "[space]\nx = { type = \"categorical\", choices = [] }\n", "space.\"x\".choices"},
    {"mixed_choices", "[space]\nx = { type = \"categorical\", choices = [1, \"a\"] }\n", "space.\"x\".choices"},
    {"duplicate_choice", "[space]\nx = { type = \"categorical\", choices = [1, 1] }\n", "space.\"x\".choices"},
    {"choices_on_uniform", "[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0, choices = [1] }\n",
     "space.\"x\".choices"},
    {"condition_unknown_param",
     "[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0, condition = { opt = \"sgd\" } }\n",
     "space.\"x\".condition"},
    {"condition_bad_value",
     "[space]\nopt = { type = \"categorical\", choices = [\"sgd\", \"adam\"] }\n"
     "x = { type = \"uniform\", low = 0.0, high = 1.0, condition = { opt = \"rmsprop\" } }\n",
     "space.\"x\".condition"},
    {"condition_on_float",
     "[space]\ny = { type = \"uniform\", low = 0.0, high = 1.0 }\n"
     "x = { type = \"uniform\", low = 0.0, high = 1.0, condition = { y = 0.5 } }\n",
     "space.\"x\".condition"},
    {"condition_cycle",
     "[space]\na = { type = \"categorical\", choices = [1, 2], condition = { b = 1 } }\n"
     "b = { type = \"categorical\", choices = [1, 2], condition = { a = 1 } }\n",
     "condition"},
    {"param_not_table", "[space]\nx = 3\n", "space.\"x\""},
    {"empty_space", "[space]\n", "[space]"},
    {"no_space", "!base = \"base.toml\"\nmetric = \"m\"\ndirection = \"minimize\"\ntrials = 3\n", "space"},
    {"no_direction",
     "!base = \"base.toml\"\nmetric = \"m\"\ntrials = 3\n[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0 }\n",
     "direction"},
    {"bad_direction",
     "!base = \"b.toml\"\nmetric = \"m\"\ndirection = \"up\"\ntrials = 3\n[space]\nx = { type = \"uniform\", low = "
     "0.0, high = 1.0 }\n",
     "direction"},
    {"no_metric",
     "!base = \"b.toml\"\ndirection = \"minimize\"\ntrials = 3\n[space]\nx = { type = \"uniform\", low = 0.0, high = "
     "1.0 }\n",
     "metric"},
    {"no_budget",
     "!base = \"b.toml\"\nmetric = \"m\"\ndirection = \"minimize\"\n[space]\nx = { type = \"uniform\", low = 0.0, high "
     "= 1.0 }\n",
     "trials"},
    {"trials_zero",
     "!base = \"b.toml\"\nmetric = \"m\"\ndirection = \"minimize\"\ntrials = 0\n[space]\nx = { type = \"uniform\", low "
     "= 0.0, high = 1.0 }\n",
     "trials"},
    {"trials_string",
     "!base = \"b.toml\"\nmetric = \"m\"\ndirection = \"minimize\"\ntrials = \"10\"\n[space]\nx = { type = "
     "\"uniform\", low = 0.0, high = 1.0 }\n",
     "trials"},
    {"negative_timeout", "timeout = -5\n", "timeout"},
    {"bad_name", "name = \"a/b\"\n", "name"},
    {"base_and_command", "command = [\"prog\"]\n", "command"},
    {"base_wrong_type",
     "!base = 3\nmetric = \"m\"\ndirection = \"minimize\"\ntrials = 3\n[space]\nx = { type = \"uniform\", low = 0.0, "
     "high = 1.0 }\n",
     "base"},
    {"unknown_sampler", "sampler = \"cmaes\"\n", "sampler"},
    {"sampler_bad_option", "sampler = { type = \"random\", n_startup_trials = 3 }\n", "sampler.n_startup_trials"},
    {"tpe_bad_gamma", "sampler = { type = \"tpe\", gamma = 1.5 }\n", "sampler.gamma"},
    {"grid_one_point", "sampler = { type = \"grid\", points = 1 }\n", "sampler.points"},
    {"unknown_pruner", "pruner = \"patience\"\n", "pruner"},
    {"asha_eta_one", "pruner = { type = \"asha\", reduction_factor = 1 }\n", "pruner.reduction_factor"},
    {"asha_unknown_option", "pruner = { type = \"asha\", max_resource = 9 }\n", "pruner.max_resource"},
    {"hyperband_no_max", "pruner = { type = \"hyperband\" }\n", "pruner.max_resource"},
    {"hyperband_max_le_min", "pruner = { type = \"hyperband\", min_resource = 3, max_resource = 3 }\n",
     "pruner.max_resource"},
    {"median_bad_percentile", "pruner = { type = \"median\", percentile = 120 }\n", "pruner.percentile"},
    {"median_interval_zero", "pruner = { type = \"median\", interval_steps = 0 }\n", "pruner.interval_steps"},
    {"set_not_table", "set = 3\n", "set"},
    {"set_array_value", "set = { \"model.input_shape\" = [784] }\n", "set.\"model.input_shape\""},
    {"set_also_in_space", "set = { x = 0.5 }\n", "set.\"x\""},
    {"set_with_command",
     "!command = [\"p\"]\ndirection = \"minimize\"\ntrials = 2\nset = { a = 1 }\n[space]\nx = { type = \"uniform\", "
     "low = 0.0, high = 1.0 }\n",
     "set"},
};

class HpoBadStudy : public ::testing::TestWithParam<BadStudy> {};

TEST_P(HpoBadStudy, ThrowsOneLineNamingFileAndField) {
  const BadStudy& c = GetParam();
  std::string text = c.toml[0] == '!' ? std::string(c.toml + 1) : std::string(kHeader) + c.toml;
  if (c.toml[0] != '!' && std::string(c.toml).find("[space]") == std::string::npos) text += kSpace;
  try {
    hpo::parse_study(text, "studies/bad.toml");
    FAIL() << "no error for:\n" << text;
  } catch (const descent::Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("studies/bad.toml", 0), 0u) << what;
    EXPECT_NE(what.find(c.field), std::string::npos) << "message does not name '" << c.field << "': " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, HpoBadStudy, ::testing::ValuesIn(kBadStudies),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(HpoStudyFile, ValidHeaderAndSpaceParse) {  // the rows above each break a study that is valid
  const hpo::Study s = hpo::parse_study(std::string(kHeader) + kSpace, "studies/good.toml");
  EXPECT_EQ(s.space.params.size(), 1u);
  EXPECT_EQ(s.base, fs::path("studies/base.toml"));  // relative to the study file
}

TEST(HpoStudyFile, SyntaxErrorAndMissingFileNameTheFile) {
  try {
    hpo::load_study(kData / "study_bad_syntax.toml");
    FAIL();
  } catch (const descent::Error& e) {
    EXPECT_NE(std::string(e.what()).find("study_bad_syntax.toml:2:"), std::string::npos) << e.what();
  }
  EXPECT_THROW(hpo::load_study(kData / "no_such_study.toml"), descent::Error);
}

TEST(HpoStudyFile, SetGivesEveryTrialTheSameConfigKeys) {
  const hpo::Study s = hpo::parse_study(std::string(kHeader) +
                                            "[set]\n\"data.validation_split\" = 0.1\ntrain = { epochs = 9, "
                                            "threads = 1 }\n" +
                                            kSpace,
                                        "studies/good.toml");
  EXPECT_EQ(s.fixed, (hpo::Params{{"data.validation_split", 0.1},
                                  {"train.epochs", std::int64_t{9}},
                                  {"train.threads", std::int64_t{1}}}));
}

TEST(HpoStudyFile, ExampleStudyGivesRunnableTrialConfigs) {
  TempDir dir;
  const hpo::Study study = hpo::load_study(fs::path(DESCENT_SOURCE_DIR) / "examples" / "fashion_mlp_study.toml");
  EXPECT_EQ(study.space.params.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<hpo::AshaOptions>(study.pruner));
  hpo::RandomSampler sampler({.seed = 5});
  const hpo::Trial trial{.number = 0, .params = draw(sampler, study.space, 1)[0]};
  hpo::write_trial_config(dir.path() / "trial.toml", study, trial);
  const toml::table config = toml::parse_file((dir.path() / "trial.toml").string());
  EXPECT_EQ(config["data"]["validation_split"].value<double>(), 0.1);
  EXPECT_EQ(config["train"]["epochs"].value<std::int64_t>(), 9);
  EXPECT_EQ(config["model"]["layers"][0]["out_features"].value<std::int64_t>(),
            std::get<std::int64_t>(trial.params.at("model.layers.0.out_features")));
  EXPECT_EQ(config["optimizer"]["lr"].value<double>(), std::get<double>(trial.params.at("optimizer.lr")));
  EXPECT_EQ(config["data"]["name"].value<std::string>(), "fashion-mnist");  // the rest is the base's
}

TEST(HpoStudyFile, InlineBaseAndCommandForms) {
  const hpo::Study inl = hpo::parse_study(
      "metric = \"val_loss\"\ndirection = \"minimize\"\ntrials = 2\n[base.train]\nepochs = 3\n" + std::string(kSpace),
      "s.toml");
  EXPECT_TRUE(inl.base.empty());
  EXPECT_NE(inl.base_inline.find("epochs = 3"), std::string::npos);
  const hpo::Study cmd = hpo::parse_study(
      "command = [\"./prog\", \"--x\", \"{x}\"]\ndirection = \"minimize\"\ntimeout = 5\n" + std::string(kSpace),
      "s.toml");
  EXPECT_EQ(cmd.command, (std::vector<std::string>{"./prog", "--x", "{x}"}));
  EXPECT_EQ(cmd.timeout, 5.0);
  const hpo::Study grid = hpo::parse_study(  // a grid needs no budget: it ends when visited
      "command = [\"p\"]\ndirection = \"minimize\"\nsampler = { type = \"grid\", points = 3 }\n" + std::string(kSpace),
      "s.toml");
  EXPECT_EQ(std::get<hpo::GridOptions>(grid.sampler).points, 3);
}

// ---------------------------------------------------------------------------------------------
// Values and conditions

TEST(HpoSpace, FormatValueReadsBackAsTheSameTomlType) {
  EXPECT_EQ(hpo::format_value(hpo::Value{2.0}), "2.0");  // a float must not turn into an integer
  EXPECT_EQ(hpo::format_value(hpo::Value{0.001}), "0.001");
  EXPECT_EQ(hpo::format_value(hpo::Value{1e-5}), "1e-05");
  EXPECT_EQ(hpo::format_value(hpo::Value{std::int64_t{128}}), "128");
  EXPECT_EQ(hpo::format_value(hpo::Value{true}), "true");
  EXPECT_EQ(hpo::format_value(hpo::Value{std::string("sgd")}), "sgd");
  EXPECT_EQ(hpo::to_json(hpo::Value{std::string("a\"b")}), "\"a\\\"b\"");
  const double x = 0.1 + 0.2;
  EXPECT_EQ(std::stod(hpo::format_value(hpo::Value{x})), x);  // round-trips exactly
}

TEST(HpoSpace, ConditionsAreCheckedAgainstSampledValues) {
  const hpo::SearchSpace s = every_kind_space();
  const auto& momentum = *std::find_if(s.params.begin(), s.params.end(), [](auto& p) { return p.name == "momentum"; });
  EXPECT_TRUE(hpo::is_active(momentum, {{"opt", std::string("sgd")}}));
  EXPECT_FALSE(hpo::is_active(momentum, {{"opt", std::string("adam")}}));
  EXPECT_FALSE(hpo::is_active(momentum, {}));  // parent itself inactive
}

// ---------------------------------------------------------------------------------------------
// Samplers

TEST(HpoSampler, SameSeedSameTrialsOtherSeedOthers) {
  const hpo::SearchSpace s = every_kind_space();
  for (int kind = 0; kind < 3; ++kind) {
    auto make = [&](std::uint64_t seed) -> std::unique_ptr<hpo::Sampler> {
      if (kind == 0) return std::make_unique<hpo::RandomSampler>(hpo::RandomOptions{.seed = seed});
      if (kind == 1) return std::make_unique<hpo::GridSampler>(hpo::GridOptions{.seed = seed, .points = 3});
      return std::make_unique<hpo::TpeSampler>(hpo::TpeOptions{.seed = seed, .n_startup_trials = 3});
    };
    // TPE needs a history to leave its random start-up: feed each proposal back with a value.
    auto run = [&](std::uint64_t seed) {
      auto sampler = make(seed);
      std::vector<hpo::Trial> trials;
      for (int n = 0; n < 12; ++n) {
        hpo::Params p = sampler->sample(s, {.trials = trials}, n).value();
        trials.push_back(complete(n, std::log(std::get<double>(p.at("lr"))), {}, p));
      }
      std::vector<hpo::Params> out;
      for (auto& t : trials) out.push_back(t.params);
      return out;
    };
    EXPECT_EQ(run(1), run(1)) << "sampler " << kind;
    EXPECT_NE(run(1), run(2)) << "sampler " << kind;
  }
}

TEST(HpoSampler, RandomRespectsBoundsStepsLogsAndConditions) {
  const hpo::SearchSpace s = every_kind_space();
  hpo::RandomSampler sampler({.seed = 3});
  const auto draws = draw(sampler, s, 4000);
  int below_geo_mean_lr = 0, below_geo_mean_batch = 0, sgd = 0;
  for (const auto& p : draws) {
    for (const auto& spec : s.params) {
      const bool active = hpo::is_active(spec, p);
      ASSERT_EQ(p.count(spec.name), active ? 1u : 0u) << spec.name;
      if (active) {
        ASSERT_TRUE(hpo::contains(spec, p.at(spec.name))) << spec.name << "=" << hpo::to_json(p.at(spec.name));
      }
    }
    sgd += std::get<std::string>(p.at("opt")) == "sgd";
    below_geo_mean_lr += std::get<double>(p.at("lr")) < 1e-2;  // sqrt(1e-4 * 1)
    below_geo_mean_batch += std::get<std::int64_t>(p.at("batch")) < 32;
    const double wd = std::get<double>(p.at("wd"));
    ASSERT_NEAR(wd / 0.0025, std::round(wd / 0.0025), 1e-9);  // on the lattice
  }
  // Log scale: half of the lr draws below the geometric mean (a linear draw: ~1 %). A log int
  // is drawn in log space over [low - 0.5, high + 0.5] and rounded: P(batch <= 31) =
  // log(31.5 / 0.5) / log(1024.5 / 0.5) = 0.543 (a linear draw: 3 %).
  EXPECT_NEAR(below_geo_mean_lr / 4000.0, 0.5, 0.03);
  EXPECT_NEAR(below_geo_mean_batch / 4000.0, std::log(31.5 / 0.5) / std::log(1024.5 / 0.5), 0.03);
  EXPECT_NEAR(sgd / 4000.0, 0.5, 0.04);
}

TEST(HpoSampler, RandomDrawsIntEndpointsWithTheirShare) {
  const hpo::SearchSpace s{.params = {{.name = "k", .kind = ParamKind::Int, .low = 1, .high = 4, .step = 1}}};
  hpo::RandomSampler sampler({.seed = 9});
  std::map<std::int64_t, int> counts;
  for (const auto& p : draw(sampler, s, 4000)) ++counts[std::get<std::int64_t>(p.at("k"))];
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [k, n] : counts) EXPECT_NEAR(n / 4000.0, 0.25, 0.03) << k;
}

TEST(HpoSampler, GridVisitsEveryPointOnceAndBranchesOnConditions) {
  const hpo::SearchSpace s{.params = {
                               {.name = "opt", .kind = ParamKind::Categorical, .choices = {"sgd", "adam"}},
                               {.name = "m",
                                .kind = ParamKind::Uniform,
                                .low = 0.0,
                                .high = 1.0,
                                .conditions = {{.param = "opt", .values = {"sgd"}}}},
                               {.name = "lr", .kind = ParamKind::LogUniform, .low = 1e-3, .high = 1e-1},
                               {.name = "k", .kind = ParamKind::Int, .low = 2, .high = 6, .step = 2},
                           }};
  hpo::GridSampler sampler({.seed = 1, .points = 3});
  const auto grid = sampler.grid(s);
  // sgd: 3 momentum x 3 lr x 3 k = 27; adam: 3 lr x 3 k = 9 (no momentum axis).
  ASSERT_EQ(grid.size(), 36u);
  EXPECT_EQ(std::set<hpo::Params>(grid.begin(), grid.end()).size(), 36u);
  std::set<double> lrs, ms;
  for (const auto& p : grid) {
    lrs.insert(std::get<double>(p.at("lr")));
    EXPECT_EQ(p.count("m"), std::get<std::string>(p.at("opt")) == "sgd" ? 1u : 0u);
    if (p.count("m")) ms.insert(std::get<double>(p.at("m")));
  }
  EXPECT_EQ(ms, (std::set<double>{0.0, 0.5, 1.0}));
  ASSERT_EQ(lrs.size(), 3u);
  EXPECT_NEAR(*std::next(lrs.begin()), 1e-2, 1e-12);  // log-spaced: the middle is the geometric mean

  std::vector<hpo::Trial> trials;
  for (int n = 0; n < 36; ++n) {
    auto p = sampler.sample(s, {.trials = trials}, n);
    ASSERT_TRUE(p);
    EXPECT_EQ(*p, grid[static_cast<std::size_t>(n)]);
    trials.push_back(complete(n, 0, {}, *p));
  }
  EXPECT_FALSE(sampler.sample(s, {.trials = trials}, 36));              // exhausted
  EXPECT_NE(hpo::GridSampler({.seed = 2, .points = 3}).grid(s), grid);  // the order is seeded
}

namespace {
// Best value of (x - 0.3)^2 on [-5, 5] after `n` trials of `sampler`.
double best_of_quadratic(hpo::Sampler& sampler, int n) {
  const hpo::SearchSpace s{.params = {{.name = "x", .kind = ParamKind::Uniform, .low = -5, .high = 5}}};
  std::vector<hpo::Trial> trials;
  double best = INFINITY;
  for (int i = 0; i < n; ++i) {
    const hpo::Params p = sampler.sample(s, {.trials = trials}, i).value();
    const double x = std::get<double>(p.at("x"));
    EXPECT_TRUE(x >= -5 && x <= 5);
    trials.push_back(complete(i, (x - 0.3) * (x - 0.3), {}, p));
    best = std::min(best, trials.back().value.value());
  }
  return best;
}
}  // namespace

TEST(HpoSampler, TpeBeatsRandomOnAQuadratic) {
  constexpr int kSeeds = 10, kTrials = 30;
  double tpe = 0, random = 0;
  int tpe_wins = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    hpo::TpeSampler t({.seed = static_cast<std::uint64_t>(seed)});
    hpo::RandomSampler r({.seed = static_cast<std::uint64_t>(seed)});
    const double bt = best_of_quadratic(t, kTrials), br = best_of_quadratic(r, kTrials);
    tpe += bt / kSeeds;
    random += br / kSeeds;
    tpe_wins += bt < br;
  }
  // Random search's expected best here is ~(10 / 62)^2 / 3 ~ 9e-3; TPE's 20 modelled trials
  // concentrate near 0.3. Both the mean and the head-to-head count must favour TPE clearly.
  EXPECT_LT(tpe, 0.25 * random) << "tpe " << tpe << " random " << random;
  EXPECT_GE(tpe_wins, 7);
}

TEST(HpoSampler, TpePrefersTheGoodCategoryAndRespectsConditions) {
  const hpo::SearchSpace s = every_kind_space();
  hpo::TpeSampler sampler({.seed = 5, .n_startup_trials = 10});
  std::vector<hpo::Trial> trials;
  int adam_late = 0;
  for (int n = 0; n < 60; ++n) {
    const hpo::Params p = sampler.sample(s, {.trials = trials}, n).value();
    for (const auto& spec : s.params) {
      ASSERT_EQ(p.count(spec.name), hpo::is_active(spec, p) ? 1u : 0u) << spec.name;
      if (p.count(spec.name)) {
        ASSERT_TRUE(hpo::contains(spec, p.at(spec.name))) << spec.name;
      }
    }
    const bool adam = std::get<std::string>(p.at("opt")) == "adam";
    if (n >= 30) adam_late += adam;
    trials.push_back(complete(n, (adam ? 0.0 : 1.0) + std::abs(std::log10(std::get<double>(p.at("lr"))) + 2), {}, p));
  }
  EXPECT_GE(adam_late, 24) << "of 30 late trials";  // random would give ~15
}

TEST(HpoSampler, TpeCountsPrunedTrialsAsWorseThanComplete) {
  // 10 complete trials at x in [0, 1] with the best near 0, plus pruned trials near 1 that
  // reported excellent (low) intermediate values: TPE must still look near 0.
  const hpo::SearchSpace s{.params = {{.name = "x", .kind = ParamKind::Uniform, .low = 0, .high = 1}}};
  std::vector<hpo::Trial> trials;
  for (int i = 0; i < 10; ++i) trials.push_back(complete(i, i / 10.0, {}, {{"x", i / 10.0}}));
  for (int i = 10; i < 20; ++i)
    trials.push_back(
        hpo::Trial{.number = i, .state = TrialState::Pruned, .params = {{"x", 0.95}}, .intermediate = {{1, -100.0}}});
  hpo::TpeSampler sampler({.seed = 1});
  double mean = 0;
  for (int n = 20; n < 40; ++n) mean += std::get<double>(sampler.sample(s, {.trials = trials}, n)->at("x")) / 20;
  EXPECT_LT(mean, 0.35);
}

TEST(HpoSampler, TpeRanksTrialsThatEndedNonFiniteLast) {
  // No complete trial. Pruned at step 1 with 0.5 at x = 0.9; stopped as diverged at step 2 (NaN)
  // at x = 0.1. Going further would rank the diverged ones first; their NaN must rank them last,
  // so the "good" set is x = 0.9.
  const hpo::SearchSpace s{.params = {{.name = "x", .kind = ParamKind::Uniform, .low = 0, .high = 1}}};
  std::vector<hpo::Trial> trials;
  for (int i = 0; i < 20; ++i) {
    const bool diverged = i % 2 == 0;
    trials.push_back(hpo::Trial{
        .number = i,
        .state = TrialState::Pruned,
        .params = {{"x", diverged ? 0.1 : 0.9}},
        .intermediate = diverged ? std::map<int, double>{{1, 0.4}, {2, NAN}} : std::map<int, double>{{1, 0.5}}});
  }
  hpo::TpeSampler sampler({.seed = 2});
  double mean = 0;
  for (int n = 20; n < 40; ++n) mean += std::get<double>(sampler.sample(s, {.trials = trials}, n)->at("x")) / 20;
  EXPECT_GT(mean, 0.65);
}

// ---------------------------------------------------------------------------------------------
// Pruners on hand-built tables

namespace {
hpo::Trial running(int number, std::map<int, double> curve) {
  return hpo::Trial{.number = number, .state = TrialState::Running, .intermediate = std::move(curve)};
}
}  // namespace

TEST(HpoMedianPruner, ComparesBestSoFarWithTheMedianAtTheSameStep) {
  // Completed trials at step 2: 0.4, 0.6, 0.9, 1.0 -> median (linear interpolation) = 0.75.
  std::vector<hpo::Trial> done = {complete(0, 0, {{1, 0.8}, {2, 0.4}}), complete(1, 0, {{1, 0.9}, {2, 0.6}}),
                                  complete(2, 0, {{1, 1.0}, {2, 0.9}}), complete(3, 0, {{1, 1.1}, {2, 1.0}})};
  hpo::MedianPruner pruner({.n_startup_trials = 4});
  hpo::Trial a = running(4, {{1, 2.0}, {2, 0.76}});  // best 0.76 > 0.75: prune
  hpo::Trial b = running(5, {{1, 0.7}, {2, 0.80}});  // best so far 0.7 (step 1) < 0.75: keep
  hpo::Trial c = running(6, {{1, 2.0}, {2, 0.75}});  // equal to the median: keep
  EXPECT_TRUE(pruner.should_prune(a, {.trials = done}));
  EXPECT_FALSE(pruner.should_prune(b, {.trials = done}));
  EXPECT_FALSE(pruner.should_prune(c, {.trials = done}));
  // Maximize: the median of the same values is the same, and larger is better.
  EXPECT_FALSE(pruner.should_prune(a, {.trials = done, .direction = hpo::Direction::Maximize}));  // 2.0 at step 1
  hpo::Trial d = running(7, {{1, 0.5}, {2, 0.74}});
  EXPECT_TRUE(pruner.should_prune(d, {.trials = done, .direction = hpo::Direction::Maximize}));
  // Only completed trials count: with 3 of 4 needed, no pruning.
  std::vector<hpo::Trial> three(done.begin(), done.begin() + 3);
  EXPECT_FALSE(pruner.should_prune(a, {.trials = three}));
  // A trial that reported only NaN is pruned at once.
  hpo::Trial nan = running(8, {{1, NAN}});
  EXPECT_TRUE(pruner.should_prune(nan, {.trials = done}));
}

TEST(HpoMedianPruner, WarmupAndIntervalSkipSteps) {
  std::vector<hpo::Trial> done;
  for (int i = 0; i < 3; ++i) done.push_back(complete(i, 0, {{1, 1.0}, {2, 1.0}, {3, 1.0}, {4, 1.0}, {5, 1.0}}));
  hpo::MedianPruner pruner({.n_startup_trials = 1, .n_warmup_steps = 2, .interval_steps = 2});
  // Checkpoints at steps 2, 4, 6 ...; a trial worse than all (2.0) is pruned only there.
  std::map<int, double> curve;
  std::vector<int> pruned_at;
  for (int step = 1; step <= 5; ++step) {
    curve[step] = 2.0;
    hpo::Trial t = running(3, curve);
    if (pruner.should_prune(t, {.trials = done})) pruned_at.push_back(step);
  }
  EXPECT_EQ(pruned_at, (std::vector<int>{2, 4}));
  // Reports at 1 then 3: step 3 is the first report since checkpoint 2, so it is judged.
  hpo::Trial skip = running(3, {{1, 2.0}, {3, 2.0}});
  EXPECT_TRUE(pruner.should_prune(skip, {.trials = done}));
}

TEST(HpoAshaPruner, PromotesTheTopOneOverEtaOfEachRung) {
  // eta = 2, min_resource = 1: rungs at steps 1, 2, 4. Minimize. Trials arrive one by one.
  hpo::AshaPruner pruner({.min_resource = 1, .reduction_factor = 2});
  EXPECT_EQ(pruner.rung_step(0), 1);
  EXPECT_EQ(pruner.rung_step(2), 4);
  std::vector<hpo::Trial> trials;
  auto report = [&](hpo::Trial& t, int step, double v) {
    t.intermediate[step] = v;
    return pruner.should_prune(t, {.trials = trials});
  };
  // Trial 0 at rung 0: alone -> competing {5}, top index max(1/2-1, 0) = 0, 5 <= 5: promoted.
  hpo::Trial t0 = running(0, {});
  EXPECT_FALSE(report(t0, 1, 5.0));
  EXPECT_FALSE(report(t0, 2, 4.0));  // rung 1 alone: promoted
  EXPECT_FALSE(report(t0, 3, 3.5));  // between rungs: never pruned
  EXPECT_FALSE(report(t0, 4, 3.0));
  EXPECT_EQ(t0.rungs, (std::vector<double>{5.0, 4.0, 3.0}));
  trials.push_back(t0);
  // Trial 1: rung 0 competing {5, 6}: 2/2-1 = 0 -> must be <= 5: 6 is pruned.
  hpo::Trial t1 = running(1, {});
  EXPECT_TRUE(report(t1, 1, 6.0));
  EXPECT_EQ(t1.rungs, (std::vector<double>{6.0}));  // its value stays in the rung
  trials.push_back(t1);
  // Trial 2: rung 0 competing {5, 6, 4.5}: 3/2-1 = 0 -> best: promoted. Rung 1 {4, 4.2}: pruned.
  hpo::Trial t2 = running(2, {});
  EXPECT_FALSE(report(t2, 1, 4.5));
  EXPECT_TRUE(report(t2, 2, 4.2));
  trials.push_back(t2);
  // Trial 3: rung 0 competing {5, 6, 4.5, 5.5}: 4/2-1 = 1 -> second best 5.0; 5.5 > 5: pruned.
  hpo::Trial t3 = running(3, {});
  EXPECT_TRUE(report(t3, 1, 5.5));
  trials.push_back(t3);
  // Trial 4: rung 0 {5, 6, 4.5, 5.5, 5.0}: 5/2-1 = 1 -> second best is 5.0 (t0); 5.0 <= 5.0: promoted.
  hpo::Trial t4 = running(4, {});
  EXPECT_FALSE(report(t4, 1, 5.0));
  // A first report past several rungs records it at each rung it passes, judged at every one.
  hpo::Trial t5 = running(5, {});
  EXPECT_FALSE(report(t5, 4, 1.0));
  EXPECT_EQ(t5.rungs, (std::vector<double>{1.0, 1.0, 1.0}));
  // NaN at a rung is pruned.
  hpo::Trial t6 = running(6, {});
  EXPECT_TRUE(report(t6, 1, NAN));
}

TEST(HpoAshaPruner, MaximizeAndMinEarlyStoppingRate) {
  // eta = 3, s = 1: rung 0 at step 3, rung 1 at 9. Maximize.
  hpo::AshaPruner pruner({.min_resource = 1, .reduction_factor = 3, .min_early_stopping_rate = 1});
  std::vector<hpo::Trial> trials;
  for (int i = 0; i < 5; ++i) trials.push_back(hpo::Trial{.number = i, .rungs = {0.1 * (i + 1)}});  // 0.1 .. 0.5
  hpo::Trial t = running(9, {{1, 0.0}, {2, 0.0}});
  EXPECT_FALSE(pruner.should_prune(t, {.trials = trials, .direction = hpo::Direction::Maximize}));  // before rung 0
  EXPECT_TRUE(t.rungs.empty());
  // Rung 0 with 6 values {0.1 .. 0.5, 0.45}: 6/3-1 = 1 -> must be >= second largest 0.45.
  t.intermediate[3] = 0.45;
  EXPECT_FALSE(pruner.should_prune(t, {.trials = trials, .direction = hpo::Direction::Maximize}));
  trials.push_back(t);
  // Rung 0 now {0.1 .. 0.5, 0.45, 0.44}: 7/3-1 = 1 -> must be >= 0.45: 0.44 is pruned.
  hpo::Trial u = running(10, {{3, 0.44}});
  EXPECT_TRUE(pruner.should_prune(u, {.trials = trials, .direction = hpo::Direction::Maximize}));
}

TEST(HpoHyperbandPruner, BracketsSharesAndIsolation) {
  // min 1, max 9, eta 3: brackets s = 0, 1, 2; budgets ceil(3 * 3^s' / (s' + 1)), s' = 2, 1, 0 -> 9, 5, 3.
  hpo::HyperbandPruner pruner({.min_resource = 1, .max_resource = 9, .reduction_factor = 3});
  ASSERT_EQ(pruner.n_brackets(), 3);
  std::vector<int> count(3, 0);
  for (int n = 0; n < 170; ++n) ++count[static_cast<std::size_t>(pruner.bracket_of(n))];
  EXPECT_EQ(count, (std::vector<int>{90, 50, 30}));  // exact shares over full rounds of 17
  // Smooth round robin interleaves: credits (9,5,3) pick 0, (1,10,6) pick 1, (10,-2,9) pick 0,
  // (2,3,12) pick 2.
  EXPECT_EQ((std::vector<int>{pruner.bracket_of(0), pruner.bracket_of(1), pruner.bracket_of(2), pruner.bracket_of(3)}),
            (std::vector<int>{0, 1, 0, 2}));

  // Isolation: a bracket-0 trial competes only with bracket-0 trials.
  int a = -1, b = -1;
  for (int n = 0; n < 20 && (a < 0 || b < 0); ++n) {
    if (pruner.bracket_of(n) == 0 && a < 0)
      a = n;
    else if (pruner.bracket_of(n) == 1 && b < 0)
      b = n;
  }
  std::vector<hpo::Trial> trials = {hpo::Trial{.number = b, .rungs = {0.0}}};  // excellent, other bracket
  hpo::Trial t = running(a, {{1, 1.0}});
  EXPECT_FALSE(pruner.should_prune(t, {.trials = trials}));              // alone in its bracket: promoted
  trials.push_back(hpo::Trial{.number = a + 100 * 17, .rungs = {0.5}});  // same bracket (period 17), better
  ASSERT_EQ(pruner.bracket_of(a + 100 * 17), 0);
  hpo::Trial t2 = running(a, {{1, 1.0}});
  EXPECT_TRUE(pruner.should_prune(t2, {.trials = trials}));
}

// Replays Optuna 3.1's decisions (scripts/hpo_optuna_reference.py) through our pruners.
TEST(HpoPruner, AgreesWithOptunaOnScriptedCurves) {
  const auto ref = nlohmann::json::parse(read_text(kData / "optuna_pruning.json"));
  ASSERT_GE(ref["cases"].size(), 6u);
  for (const auto& c : ref["cases"]) {
    const auto& o = c["options"];
    std::unique_ptr<hpo::Pruner> pruner;
    if (c["pruner"] == "MedianPruner")
      pruner =
          std::make_unique<hpo::MedianPruner>(hpo::MedianOptions{.n_startup_trials = o.value("n_startup_trials", 5),
                                                                 .n_warmup_steps = o.value("n_warmup_steps", 0),
                                                                 .interval_steps = o.value("interval_steps", 1),
                                                                 .n_min_trials = o.value("n_min_trials", 1)});
    else
      pruner = std::make_unique<hpo::AshaPruner>(
          hpo::AshaOptions{.min_resource = o.value("min_resource", 1),
                           .reduction_factor = o.value("reduction_factor", 4),
                           .min_early_stopping_rate = o.value("min_early_stopping_rate", 0),
                           .bootstrap_count = o.value("bootstrap_count", 0)});
    const auto direction = c["direction"] == "maximize" ? hpo::Direction::Maximize : hpo::Direction::Minimize;
    const int n_steps = c["n_steps"];
    std::vector<hpo::Trial> trials;
    int decisions = 0, prunes = 0;
    for (const auto& e : c["events"]) {
      const int i = e[0], step = e[1];
      const double value = e[2].is_null() ? NAN : e[2].get<double>();
      while (static_cast<int>(trials.size()) <= i) trials.push_back(running(static_cast<int>(trials.size()), {}));
      hpo::Trial& t = trials[static_cast<std::size_t>(i)];
      t.intermediate[step] = value;
      const bool pruned = pruner->should_prune(t, {.trials = trials, .direction = direction});
      ASSERT_EQ(pruned, e[3].get<bool>()) << c["name"] << ": trial " << i << " step " << step;
      ++decisions;
      prunes += pruned;
      if (pruned)
        t.state = TrialState::Pruned;
      else if (step == n_steps) {
        t.state = std::isnan(value) ? TrialState::Failed : TrialState::Complete;
        if (!std::isnan(value)) t.value = value;
      }
    }
    EXPECT_GT(prunes, 0) << c["name"];
    EXPECT_GT(decisions - prunes, prunes / 2) << c["name"];
  }
}

TEST(HpoTrialConfig, ParametersLandInTablesAndArraysOfTheBaseConfig) {
  TempDir dir;
  hpo::Study study = hpo::parse_study(
      "metric = \"val_acc\"\ndirection = \"maximize\"\ntrials = 1\n"
      "[base.model]\nlayers = [ { type = \"linear\", out_features = 64 }, { type = \"relu\" } ]\n"
      "[base.optimizer]\ntype = \"sgd\"\nlr = 0.1\n" +
          std::string(kSpace),
      dir.path() / "s.toml");
  const hpo::Trial best{.number = 3,
                        .params = {{"model.layers.0.out_features", std::int64_t{256}},
                                   {"optimizer.type", std::string("adam")},
                                   {"optimizer.lr", 0.003},
                                   {"train.batch_size", std::int64_t{32}}}};
  hpo::write_trial_config(dir.path() / "best.toml", study, best);
  const toml::table t = toml::parse_file((dir.path() / "best.toml").string());
  EXPECT_EQ(t["model"]["layers"][0]["out_features"].value<std::int64_t>(), 256);
  EXPECT_EQ(t["model"]["layers"][0]["type"].value<std::string>(), "linear");  // the rest is kept
  EXPECT_EQ(t["model"]["layers"][1]["type"].value<std::string>(), "relu");
  EXPECT_EQ(t["optimizer"]["type"].value<std::string>(), "adam");
  EXPECT_EQ(t["optimizer"]["lr"].value<double>(), 0.003);
  EXPECT_EQ(t["train"]["batch_size"].value<std::int64_t>(), 32);  // a new table where needed

  hpo::Trial bad = best;
  bad.params = {{"model.layers.5.out_features", std::int64_t{1}}};
  try {
    hpo::write_trial_config(dir.path() / "bad.toml", study, bad);
    FAIL();
  } catch (const descent::Error& e) {
    EXPECT_NE(std::string(e.what()).find("index 5 is past the end"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Storage and trial output

TEST(HpoStorage, RoundTripsTrialsOfEveryValueType) {
  TempDir dir;
  {
    hpo::Storage db(dir.path() / "study.db");
    db.set_meta("name", "s");
    const hpo::Params p = {{"a", std::int64_t{64}}, {"b", 1e-3}, {"c", std::string("sgd")}, {"d", true}};
    EXPECT_EQ(db.add_trial(p, TrialState::Running), 0);
    EXPECT_EQ(db.add_trial({{"a", std::int64_t{1}}}, TrialState::Waiting), 1);
    db.add_intermediate(0, 1, 0.5);
    db.add_intermediate(0, 2, NAN);
    db.add_rung(0, 0, 0.5);
    hpo::Trial t{.number = 0,
                 .state = TrialState::Pruned,
                 .params = p,
                 .message = "pruned at step 2",
                 .started = 10,
                 .finished = 12.5,
                 .requeued_as = 1};
    db.update_trial(t);
  }
  hpo::Storage db(dir.path() / "study.db");
  EXPECT_EQ(db.meta("name"), "s");
  EXPECT_FALSE(db.meta("other"));
  const auto trials = db.load();
  ASSERT_EQ(trials.size(), 2u);
  const hpo::Trial& t = trials[0];
  EXPECT_EQ(t.state, TrialState::Pruned);
  EXPECT_EQ(t.params.at("a"), hpo::Value{std::int64_t{64}});
  EXPECT_EQ(t.params.at("b"), hpo::Value{1e-3});
  EXPECT_EQ(t.params.at("c"), hpo::Value{std::string("sgd")});
  EXPECT_EQ(t.params.at("d"), hpo::Value{true});
  EXPECT_EQ(t.intermediate.at(1), 0.5);
  EXPECT_TRUE(std::isnan(t.intermediate.at(2)));
  EXPECT_EQ(t.rungs, (std::vector<double>{0.5}));
  EXPECT_EQ(t.message, "pruned at step 2");
  EXPECT_EQ(t.finished, 12.5);
  EXPECT_EQ(t.requeued_as, 1);
  EXPECT_FALSE(t.value);
  EXPECT_EQ(trials[1].state, TrialState::Waiting);
  // WAL mode is a property of the file: another connection sees it.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "study.db").string().c_str(), &other), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(other, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(other);
}

TEST(HpoStorage, NotADatabaseIsAClearError) {
  TempDir dir;
  std::ofstream(dir.path() / "study.db") << "this is not sqlite, just text long enough to look like a header......";
  try {
    hpo::Storage db(dir.path() / "study.db");
    FAIL();
  } catch (const descent::Error& e) {
    EXPECT_NE(std::string(e.what()).find("study.db"), std::string::npos) << e.what();
  }
}

TEST(HpoTrialOutput, MetricsLinesHealthAndNonFiniteLosses) {
  auto r = hpo::parse_metrics_line(R"({"epoch": 3, "train_loss": 0.5, "val_acc": 0.8})", "val_acc", 7);
  EXPECT_EQ(r.step, 3);
  EXPECT_EQ(r.value, 0.8);
  EXPECT_TRUE(r.stop.empty());
  r = hpo::parse_metrics_line(R"({"train_loss": 0.5, "val_acc": 0.8})", "val_acc", 7);
  EXPECT_EQ(r.step, 7);  // no epoch: the line number
  r = hpo::parse_metrics_line(R"({"epoch": 2, "train_loss": null, "val_acc": 0.1})", "val_acc", 2);
  EXPECT_NE(r.stop.find("train_loss"), std::string::npos);
  r = hpo::parse_metrics_line(R"({"epoch": 2, "val_loss": "nan", "val_acc": 0.1})", "val_acc", 2);
  EXPECT_NE(r.stop.find("val_loss"), std::string::npos);
  r = hpo::parse_metrics_line(R"({"epoch": 2, "loss": 1.0, "health": "diverged"})", "val_acc", 2);
  EXPECT_NE(r.stop.find("diverged"), std::string::npos);
  EXPECT_FALSE(r.value);
  r = hpo::parse_metrics_line(R"({"epoch": 2, "loss": 1.0, "health": "ok", "val_acc": null})", "val_acc", 2);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_TRUE(r.value && std::isnan(*r.value));
  r = hpo::parse_metrics_line("not json", "val_acc", 2);
  EXPECT_FALSE(r.error.empty());

  r = hpo::parse_program_line("intermediate 4 0.25");
  EXPECT_EQ(r.step, 4);
  EXPECT_EQ(r.value, 0.25);
  EXPECT_EQ(hpo::parse_program_line("  -1.5e-3 ").objective, -1.5e-3);
  EXPECT_FALSE(hpo::parse_program_line("epoch 3 loss 0.2").objective);
  EXPECT_FALSE(hpo::parse_program_line("3 4").objective);
}

TEST(HpoTrialOutput, TailReadsOnlyCompleteLines) {
  TempDir dir;
  const fs::path f = dir.path() / "m.jsonl";
  hpo::LineTail tail(f);
  EXPECT_TRUE(tail.read().empty());  // no file yet
  std::ofstream out(f, std::ios::binary);
  out << "one\ntw" << std::flush;
  EXPECT_EQ(tail.read(), (std::vector<std::string>{"one"}));
  out << "o\nthree" << std::flush;
  EXPECT_EQ(tail.read(), (std::vector<std::string>{"two"}));
  EXPECT_EQ(tail.read(true), (std::vector<std::string>{"three"}));
}

// ---------------------------------------------------------------------------------------------
// Driver, end to end with tests/data/hpo/fake_trainer.sh

namespace {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

// x on a 5-point grid {0, .25, .5, .75, 1}, minimizing val_loss = (x - 0.3)^2 + 1 / epoch.
hpo::Study fake_study(const std::string& extra_space = "", const std::string& settings = "") {
  const std::string text = "base = \"base.toml\"\nmetric = \"val_loss\"\ndirection = \"minimize\"\nseed = 3\n" +
                           settings + "\n[space]\nx = { type = \"uniform\", low = 0.0, high = 1.0 }\n" + extra_space;
  return hpo::parse_study(text, kData / "generated_study.toml");  // anchors base.toml in tests/data/hpo
}

hpo::RunOptions fake_options(const fs::path& out, int jobs = 1) {
  return {.out = out,
          .jobs = jobs,
          .trainer = {"/bin/sh", (kData / "fake_trainer.sh").string()},
          .kill_grace = 1.0,
          .poll_interval = 0.005};
}

double expected_loss(double x, int epoch) { return (x - 0.3) * (x - 0.3) + 1.0 / epoch; }

struct Outcome {
  std::vector<std::pair<hpo::Params, TrialState>> trials;
  std::vector<std::map<int, double>> curves;
  bool operator==(const Outcome&) const = default;
};

Outcome outcome_of(const hpo::StudyResult& r) {
  Outcome o;
  for (const auto& t : r.trials) {
    o.trials.emplace_back(t.params, t.state);
    o.curves.push_back(t.intermediate);
  }
  return o;
}

}  // namespace

TEST(HpoDriver, PrunesAndKillsEarlyReproducibly) {
  TempDir dir;
  ScopedEnv slow("FAKE_SLEEP", "0.05");  // a prune at rung 4 must land before epochs 5 and 6
  hpo::Study study = fake_study("",
                                "sampler = { type = \"grid\", points = 5 }\n"
                                "pruner = { type = \"asha\", min_resource = 1, reduction_factor = 2 }");
  std::ostringstream log;
  hpo::RunOptions options = fake_options(dir.path() / "a");
  options.log = &log;
  const hpo::StudyResult r = hpo::run_study(study, options);
  ASSERT_EQ(r.trials.size(), 5u);
  int pruned = 0;
  for (const auto& t : r.trials) {
    const double x = std::get<double>(t.params.at("x"));
    const fs::path trial_dir = dir.path() / "a" / "trials" / fmt::format("{:04d}", t.number);
    for (const auto& [step, v] : t.intermediate) EXPECT_NEAR(v, expected_loss(x, step), 1e-9);
    if (t.state == TrialState::Pruned) {
      ++pruned;
      EXPECT_LT(t.intermediate.rbegin()->first, 6);
      // Killed: it never finished its 6 epochs (the grace is 1 s; an epoch is 30 ms).
      EXPECT_FALSE(fs::exists(trial_dir / "done")) << "trial " << t.number;
      EXPECT_LT(count_lines(trial_dir / "metrics.jsonl"), 6) << "trial " << t.number;
      EXPECT_NE(t.message.find("asha"), std::string::npos);
    } else {
      ASSERT_EQ(t.state, TrialState::Complete) << t.message;
      EXPECT_NEAR(*t.value, expected_loss(x, 6), 1e-9);  // the last epoch's metric
      EXPECT_TRUE(fs::exists(trial_dir / "done"));
    }
  }
  EXPECT_GE(pruned, 1);
  // The driver's decisions are the pruner's: replay the recorded curves in trial order.
  hpo::AshaPruner asha({.min_resource = 1, .reduction_factor = 2});
  std::vector<hpo::Trial> replay;
  for (const auto& t : r.trials) {
    hpo::Trial x = running(t.number, {});
    bool pruned_here = false;
    for (const auto& [step, v] : t.intermediate) {
      x.intermediate[step] = v;
      pruned_here = asha.should_prune(x, {.trials = replay});
      if (pruned_here) break;
    }
    EXPECT_EQ(pruned_here, t.state == TrialState::Pruned) << "trial " << t.number;
    replay.push_back(x);
  }
  // Best = the x closest to 0.3, i.e. 0.25.
  ASSERT_TRUE(r.best);
  EXPECT_EQ(std::get<double>(r.trials[static_cast<std::size_t>(*r.best)].params.at("x")), 0.25);
  EXPECT_NE(log.str().find("best: trial"), std::string::npos);

  // Same seed, jobs = 1: the same trials, states and curves.
  const hpo::StudyResult again = hpo::run_study(study, fake_options(dir.path() / "b"));
  EXPECT_EQ(outcome_of(again), outcome_of(r));
}

TEST(HpoDriver, HyperbandRungsFollowEachTrialsBracketAndAreStored) {
  TempDir dir;
  // min 1, max 6, eta 2: brackets 0, 1, 2 with first rungs at steps 1, 2, 4.
  const hpo::Study study = fake_study("",
                                      "sampler = { type = \"grid\", points = 6 }\n"
                                      "pruner = { type = \"hyperband\", min_resource = 1, max_resource = 6, "
                                      "reduction_factor = 2 }");
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path()));
  ASSERT_EQ(r.trials.size(), 6u);
  hpo::HyperbandPruner hyperband({.min_resource = 1, .max_resource = 6, .reduction_factor = 2});
  ASSERT_EQ(hyperband.n_brackets(), 3);
  std::set<int> brackets;
  int pruned = 0;
  for (const auto& t : r.trials) {
    const int b = hyperband.bracket_of(t.number);
    brackets.insert(b);
    const int first_rung = 1 << b;
    ASSERT_FALSE(t.rungs.empty()) << "trial " << t.number;  // read back from study.db
    EXPECT_EQ(t.rungs[0], t.intermediate.at(first_rung)) << "trial " << t.number << " bracket " << b;
    for (std::size_t k = 1; k < t.rungs.size(); ++k) EXPECT_EQ(t.rungs[k], t.intermediate.at(first_rung << k));
    pruned += t.state == TrialState::Pruned;
  }
  EXPECT_EQ(brackets.size(), 3u);
  EXPECT_GE(pruned, 1);
}

TEST(HpoDriver, WritesCsvHtmlAndBestConfig) {
  TempDir dir;
  const hpo::Study study = fake_study("mode = { type = \"categorical\", choices = [\"ok\", \"fail\"] }\n",
                                      "sampler = { type = \"grid\", points = 2 }");
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path()));
  ASSERT_EQ(r.trials.size(), 4u);
  std::istringstream csv(read_text(dir.path() / "trials.csv"));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "number,state,value,mode,x");
  int rows = 0;
  while (std::getline(csv, line)) {
    const hpo::Trial& t = r.trials[static_cast<std::size_t>(rows)];
    const std::string value = t.value ? fmt::format("{}", *t.value) : "";
    EXPECT_EQ(line, fmt::format("{},{},{},{},{}", rows, hpo::to_string(t.state), value,
                                std::get<std::string>(t.params.at("mode")), hpo::format_value(t.params.at("x"))));
    ++rows;
  }
  EXPECT_EQ(rows, 4);
  const std::string html = read_text(dir.path() / "study.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Learning curves"), std::string::npos);
  for (const char* fetch : {"<script", "<link", "src=", "href=", "@import"})  // self-contained
    EXPECT_EQ(html.find(fetch), std::string::npos) << fetch;
  // best.toml = base config + the best parameters (x = 0.0 beats 1.0 with mode ok).
  const std::string best = read_text(dir.path() / "best.toml");
  EXPECT_NE(best.find("x = 0.0"), std::string::npos) << best;
  EXPECT_NE(best.find("mode = 'ok'"), std::string::npos) << best;
  EXPECT_NE(best.find("epochs = 6"), std::string::npos) << best;
}

TEST(HpoDriver, SetKeysReachEveryTrialAndBestToml) {
  TempDir dir;
  const hpo::Study study = fake_study("", "trials = 2\nsampler = \"random\"\n[set]\nepochs = 3\n");
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path()));
  ASSERT_EQ(r.trials.size(), 2u);
  for (const auto& t : r.trials) {
    EXPECT_EQ(t.state, TrialState::Complete) << t.message;
    EXPECT_EQ(t.intermediate.size(), 3u);  // the fake trainer read --set epochs=3 (default 6)
  }
  const std::string best = read_text(dir.path() / "best.toml");
  EXPECT_NE(best.find("epochs = 3"), std::string::npos) << best;
  // A changed [set] is another study: resuming it in the same folder is refused.
  const hpo::Study other = fake_study("", "trials = 2\nsampler = \"random\"\n[set]\nepochs = 4\n");
  hpo::RunOptions again = fake_options(dir.path());
  again.resume = true;
  EXPECT_THROW(hpo::run_study(other, again), descent::Error);
}

TEST(HpoDriver, FailingTrialIsMarkedFailedAndTheStudyGoesOn) {
  TempDir dir;
  const hpo::Study study = fake_study("mode = { type = \"categorical\", choices = [\"ok\", \"fail\"] }\n",
                                      "sampler = { type = \"grid\", points = 3 }");
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path(), 2));
  ASSERT_EQ(r.trials.size(), 6u);
  for (const auto& t : r.trials) {
    if (std::get<std::string>(t.params.at("mode")) == "fail") {
      EXPECT_EQ(t.state, TrialState::Failed);
      EXPECT_NE(t.message.find("exit code 3"), std::string::npos) << t.message;
      EXPECT_NE(t.message.find("simulated crash"), std::string::npos) << t.message;  // stderr's last line
      EXPECT_FALSE(t.value);
    } else {
      EXPECT_EQ(t.state, TrialState::Complete) << t.message;
    }
  }
}

TEST(HpoDriver, HealthAndNonFiniteLossStopTheTrialAtOnce) {
  TempDir dir;
  const hpo::Study study = fake_study("mode = { type = \"categorical\", choices = [\"ok\", \"nan\", \"dead\"] }\n",
                                      "sampler = { type = \"grid\", points = 2 }");
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path()));
  ASSERT_EQ(r.trials.size(), 6u);
  for (const auto& t : r.trials) {
    const std::string mode = std::get<std::string>(t.params.at("mode"));
    const fs::path trial_dir = dir.path() / "trials" / fmt::format("{:04d}", t.number);
    if (mode == "ok") {
      EXPECT_EQ(t.state, TrialState::Complete);
      continue;
    }
    EXPECT_EQ(t.state, TrialState::Pruned);
    EXPECT_NE(t.message.find(mode == "nan" ? "train_loss is not finite at step 2" : "health monitor: dead at step 2"),
              std::string::npos)
        << t.message;
    EXPECT_FALSE(fs::exists(trial_dir / "done"));
    EXPECT_LT(count_lines(trial_dir / "metrics.jsonl"), 6);
    ASSERT_EQ(t.intermediate.size(), 2u);
    EXPECT_TRUE(std::isnan(t.intermediate.at(2)));  // recorded as non-finite, whatever val_loss said
  }
}

// With the real trainer: `descent train` writes the health monitor's verdict into each epoch's
// metrics.jsonl line ("health"); a trial whose divergence guard gives up (lr 10, no retries) or
// whose units are dead from the start (all-zero init) is pruned at epoch 1 with that verdict,
// and the healthy one completes. The diag fixtures' blobs MLP trains in about a second.
TEST(HpoDriver, RealTrainersHealthVerdictsPruneTrials) {
  TempDir dir;
  const fs::path diag = fs::path(DESCENT_TEST_DATA) / "diag";
  std::string text = fmt::format(
      "base = \"{}\"\nmetric = \"test_acc\"\ndirection = \"maximize\"\nsampler = \"grid\"\n"
      "[set]\n\"train.epochs\" = 30\n\"health.guard_retries\" = 0\n",
      (diag / "healthy.toml").string());
  text += descent::diag_test::data_set_table_lines();  // the fixture's paths are relative to the repository
  text +=
      "[space]\n\"optimizer.lr\" = { type = \"categorical\", choices = [0.1, 10.0] }\n"
      "\"model.init\" = { type = \"categorical\", choices = [\"xavier_uniform\", \"zeros\"], "
      "condition = { \"optimizer.lr\" = 0.1 } }\n";
  const hpo::Study study = hpo::parse_study(text, dir.path() / "health.toml");
  const hpo::StudyResult r =
      hpo::run_study(study, {.out = dir.path() / "out", .trainer = {DESCENT_CLI, "train"}, .poll_interval = 0.005});
  ASSERT_EQ(r.trials.size(), 3u);
  int seen = 0;
  for (const auto& t : r.trials) {
    const double lr = std::get<double>(t.params.at("optimizer.lr"));
    const std::string init = t.params.count("model.init") ? std::get<std::string>(t.params.at("model.init")) : "";
    if (lr == 10.0) {
      EXPECT_EQ(t.state, TrialState::Pruned) << t.message;
      EXPECT_EQ(t.message, "health monitor: diverged at step 1");
      seen |= 1;
    } else if (init == "zeros") {
      EXPECT_EQ(t.state, TrialState::Pruned) << t.message;
      EXPECT_EQ(t.message, "health monitor: dead at step 1");
      seen |= 2;
    } else {
      ASSERT_EQ(t.state, TrialState::Complete) << t.message;
      EXPECT_EQ(t.intermediate.size(), 30u);
      EXPECT_GT(*t.value, 0.5);  // the blobs are easy for a healthy MLP
      seen |= 4;
    }
    if (t.state == TrialState::Pruned) {
      // Stopped early (an epoch takes ~0.1 s here: the next may end before SIGTERM lands) and
      // ranked below every complete trial.
      const fs::path run = dir.path() / "out" / "trials" / fmt::format("{:04d}", t.number);
      EXPECT_LT(count_lines(run / "metrics.jsonl"), 20);
      EXPECT_EQ(read_text(run / "manifest.json").find("\"completed\""), std::string::npos);
      EXPECT_TRUE(std::isnan(t.intermediate.at(1)));
    }
  }
  EXPECT_EQ(seen, 7);
  ASSERT_TRUE(r.best);
  EXPECT_EQ(std::get<std::string>(r.trials[static_cast<std::size_t>(*r.best)].params.at("model.init")),
            "xavier_uniform");
}

TEST(HpoDriver, TrialIgnoringSigtermIsKilledAfterTheGrace) {
  TempDir dir;
  ScopedEnv ignore("FAKE_IGNORE_TERM", "1");
  ScopedEnv slow("FAKE_SLEEP", "0.1");
  const hpo::Study study = fake_study("mode = { type = \"categorical\", choices = [\"dead\"] }\n",
                                      "sampler = { type = \"grid\", points = 2 }");
  hpo::RunOptions options = fake_options(dir.path());
  options.kill_grace = 0.15;
  const hpo::StudyResult r = hpo::run_study(study, options);
  ASSERT_EQ(r.trials.size(), 2u);
  for (const auto& t : r.trials) {
    EXPECT_EQ(t.state, TrialState::Pruned);
    // SIGTERM is ignored, so only the SIGKILL after the grace keeps it from its 6 epochs.
    EXPECT_LT(count_lines(dir.path() / "trials" / fmt::format("{:04d}", t.number) / "metrics.jsonl"), 6);
  }
}

TEST(HpoDriver, TwoJobsRunTrialsConcurrently) {
  TempDir dir;
  const hpo::Study study = fake_study("",
                                      "sampler = { type = \"grid\", points = 6 }\n"
                                      "pruner = { type = \"median\", n_startup_trials = 2 }");
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path(), 2));
  ASSERT_EQ(r.trials.size(), 6u);
  int overlaps = 0;
  for (const auto& a : r.trials)
    for (const auto& b : r.trials) overlaps += a.number < b.number && a.started < b.finished && b.started < a.finished;
  EXPECT_GE(overlaps, 2);
  // The grid is the same whatever the concurrency: 6 distinct x covering [0, 1].
  std::set<double> xs;
  for (const auto& t : r.trials) {
    xs.insert(std::get<double>(t.params.at("x")));
    EXPECT_TRUE(t.state == TrialState::Complete || t.state == TrialState::Pruned) << t.message;
    if (t.state == TrialState::Complete) {
      EXPECT_NEAR(*t.value, expected_loss(std::get<double>(t.params.at("x")), 6), 1e-9);
    }
  }
  EXPECT_EQ(xs.size(), 6u);
  EXPECT_EQ(*xs.begin(), 0.0);
  EXPECT_EQ(*xs.rbegin(), 1.0);
}

TEST(HpoDriver, ExistingStudyNeedsResumeAndResumeRunsOnlyWhatIsMissing) {
  TempDir dir;
  const fs::path runs_log = dir.path() / "runs.log";
  ScopedEnv log("FAKE_LOG", runs_log.string());
  hpo::Study study = fake_study("", "trials = 3\nsampler = \"random\"");
  hpo::run_study(study, fake_options(dir.path() / "s"));
  EXPECT_EQ(count_lines(runs_log), 3);
  EXPECT_THROW(hpo::run_study(study, fake_options(dir.path() / "s")), descent::Error);  // no --resume
  study.trials = 5;
  hpo::RunOptions options = fake_options(dir.path() / "s");
  options.resume = true;
  const hpo::StudyResult r = hpo::run_study(study, options);
  EXPECT_EQ(r.trials.size(), 5u);
  EXPECT_EQ(count_lines(runs_log), 5);  // only the two new trials ran
  // A changed space is refused rather than mixed into the old study.
  hpo::Study other =
      fake_study("y = { type = \"uniform\", low = 0.0, high = 1.0 }\n", "trials = 6\nsampler = \"random\"");
  EXPECT_THROW(hpo::run_study(other, options), descent::Error);
  // The stored study can be reloaded from the folder alone.
  EXPECT_EQ(hpo::signature(hpo::load_stored_study(dir.path() / "s").space), hpo::signature(study.space));
}

TEST(HpoDriver, ResumeAfterAKillRerunsNothingThatFinished) {
  TempDir dir;
  const fs::path runs_log = dir.path() / "runs.log", out = dir.path() / "s";
  ScopedEnv log("FAKE_LOG", runs_log.string());
  ScopedEnv slow("FAKE_SLEEP", "0.05");
  const hpo::Study study = fake_study("", "trials = 5\nsampler = \"random\"");
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // the study, killed below while trial 2 runs
    try {
      hpo::run_study(study, fake_options(out));
    } catch (...) {
    }
    _exit(0);
  }
  // Wait until two trials completed and the third has started, then kill the driver outright.
  bool ready = false;
  for (int i = 0; i < 400 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!fs::exists(out / "study.db") || count_lines(runs_log) < 3) continue;
    try {
      const auto trials = hpo::load_trials(out);
      ready = trials.size() == 3 && trials[2].state == TrialState::Running;
    } catch (const descent::Error&) {
    }
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(ready) << "the study never reached its third trial";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the orphaned trial dies (PDEATHSIG)
  const auto before = hpo::load_trials(out);
  ASSERT_EQ(before.size(), 3u);
  ASSERT_EQ(before[2].state, TrialState::Running);

  hpo::RunOptions options = fake_options(out);
  options.resume = true;
  const hpo::StudyResult r = hpo::run_study(study, options);
  // 3 started before the kill + the interrupted one again + 2 new = 6 runs; 5 trials count.
  EXPECT_EQ(count_lines(runs_log), 6);
  ASSERT_EQ(r.trials.size(), 6u);
  EXPECT_EQ(r.trials[2].state, TrialState::Failed);
  ASSERT_TRUE(r.trials[2].requeued_as);
  const hpo::Trial& rerun = r.trials[static_cast<std::size_t>(*r.trials[2].requeued_as)];
  EXPECT_EQ(rerun.params, r.trials[2].params);
  EXPECT_EQ(rerun.state, TrialState::Complete);
  for (int i : {0, 1}) {
    EXPECT_EQ(r.trials[static_cast<std::size_t>(i)].state, TrialState::Complete);
    EXPECT_EQ(r.trials[static_cast<std::size_t>(i)].finished,
              before[static_cast<std::size_t>(i)].finished);  // untouched
  }
  int complete_count = 0;
  for (const auto& t : r.trials) complete_count += t.state == TrialState::Complete;
  EXPECT_EQ(complete_count, 5);
}

TEST(HpoDriver, StopFlagKillsRunningTrialsAndRequeuesThem) {
  TempDir dir;
  ScopedEnv slow("FAKE_SLEEP", "0.1");  // a trial takes >= 0.6 s
  const hpo::Study study = fake_study("", "trials = 4\nsampler = \"random\"");
  std::atomic<bool> stop{false};
  hpo::RunOptions options = fake_options(dir.path(), 2);
  options.stop = &stop;
  std::thread ctrl_c([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    stop = true;
  });
  const hpo::StudyResult r = hpo::run_study(study, options);
  ctrl_c.join();
  EXPECT_TRUE(r.interrupted);
  ASSERT_EQ(r.trials.size(), 4u);  // 2 interrupted + their 2 re-queued copies
  for (int i : {0, 1}) {
    const hpo::Trial& t = r.trials[static_cast<std::size_t>(i)];
    EXPECT_EQ(t.state, TrialState::Failed);
    EXPECT_EQ(t.message, "interrupted");
    ASSERT_TRUE(t.requeued_as);
    EXPECT_EQ(r.trials[static_cast<std::size_t>(*t.requeued_as)].state, TrialState::Waiting);
    EXPECT_EQ(r.trials[static_cast<std::size_t>(*t.requeued_as)].params, t.params);
    EXPECT_LT(count_lines(dir.path() / "trials" / fmt::format("{:04d}", i) / "metrics.jsonl"), 6);
  }
  options.stop = nullptr;
  options.resume = true;
  const hpo::StudyResult resumed = hpo::run_study(study, options);
  EXPECT_FALSE(resumed.interrupted);
  int complete_count = 0;
  for (const auto& t : resumed.trials) complete_count += t.state == TrialState::Complete;
  EXPECT_EQ(complete_count, 4);  // the 2 re-queued + 2 new: the budget counts what ran to an end
  EXPECT_EQ(resumed.trials.size(), 6u);
}

TEST(HpoDriver, TimeBudgetStopsLaunching) {
  TempDir dir;
  ScopedEnv slow("FAKE_SLEEP", "0.05");  // a trial takes >= 0.3 s
  const hpo::Study study = fake_study("", "trials = 100\ntimeout = 0.4\nsampler = \"random\"");
  const auto start = std::chrono::steady_clock::now();
  const hpo::StudyResult r = hpo::run_study(study, fake_options(dir.path()));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(r.trials.size(), 1u);
  EXPECT_LE(r.trials.size(), 2u);  // launched before 0.4 s: at most trial 0 and trial 1
  EXPECT_LT(seconds, 5.0);
}

TEST(HpoDriver, MissingTrainerStopsTheStudyWithTheReason) {
  TempDir dir;
  const hpo::Study study = fake_study("", "trials = 3\nsampler = \"random\"");
  hpo::RunOptions options = fake_options(dir.path());
  options.trainer = {(dir.path() / "no-such-descent").string(), "train"};
  try {
    hpo::run_study(study, options);
    FAIL() << "a trainer that cannot run must stop the study";
  } catch (const descent::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot run"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no-such-descent"), std::string::npos) << e.what();
  }
  const auto trials = hpo::load_trials(dir.path());
  ASSERT_EQ(trials.size(), 1u);  // one attempt, recorded, not three
  EXPECT_EQ(trials[0].state, TrialState::Failed);
  EXPECT_NE(trials[0].message.find("No such file"), std::string::npos) << trials[0].message;
}

TEST(HpoDriver, ExternalProgramWithIntermediateValuesAndTimeout) {
  TempDir dir;
  const std::string program = (kData / "fake_program.sh").string();
  hpo::Study study = hpo::parse_study(
      fmt::format("command = [\"/bin/sh\", \"{}\", \"{{x}}\", \"5\", \"{{pause}}\"]\ndirection = \"minimize\"\n"
                  "trial_timeout = 1.0\nsampler = {{ type = \"grid\", points = 3 }}\n"
                  "pruner = {{ type = \"median\", n_startup_trials = 1 }}\n[space]\n"
                  "x = {{ type = \"uniform\", low = 0.0, high = 1.0 }}\n"
                  "pause = {{ type = \"categorical\", choices = [0.01, 5.0] }}\n",
                  program),
      dir.path() / "ext.toml");
  const hpo::StudyResult r = hpo::run_study(study, {.out = dir.path() / "out", .jobs = 2, .poll_interval = 0.005});
  ASSERT_EQ(r.trials.size(), 6u);
  int complete_count = 0;
  for (const auto& t : r.trials) {
    const double x = std::get<double>(t.params.at("x"));
    if (std::get<double>(t.params.at("pause")) == 5.0) {  // hangs: timed out, not the study
      EXPECT_EQ(t.state, TrialState::Failed);
      EXPECT_NE(t.message.find("timed out"), std::string::npos) << t.message;
    } else if (t.state == TrialState::Complete) {
      ++complete_count;
      EXPECT_NEAR(*t.value, (x - 0.3) * (x - 0.3), 1e-9);  // the last number line
      EXPECT_EQ(t.intermediate.size(), 5u);
      EXPECT_NEAR(t.intermediate.at(2), (x - 0.3) * (x - 0.3) + 0.5, 1e-9);
    } else {
      EXPECT_EQ(t.state, TrialState::Pruned) << t.message;
    }
  }
  EXPECT_GE(complete_count, 1);
  // An unknown placeholder is caught before anything runs.
  study.command.push_back("{nope}");
  EXPECT_THROW(hpo::run_study(study, {.out = dir.path() / "out2"}), descent::Error);
}

// tests/sched_test.cpp — learning-rate schedules (descent/sched.h): PyTorch's values, the closed
// forms, composition (warm-up → main, plateau multiplier), state save/restore, the [schedule]
// config parser and its errors, the CSV and SVG of `descent schedule`.
//
// How to add a case:
//   - a schedule against PyTorch: append a dict to CASES in scripts/gen_sched_reference.py and run
//     `/usr/bin/python3 scripts/gen_sched_reference.py` (Debian's python3-torch); the
//     PyTorchReference test runs every case of tests/data/sched_reference.json by name;
//   - a config error: add a row {TOML of [schedule], exact message} to kSpecErrors;
//   - a damaged checkpoint state: add a row {JSON text, exact message} to kStateErrors;
//   - anything else: a TEST in the section of its part below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <set>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numbers>
#include <sstream>
#include <toml++/toml.h>

#include "descent/error.h"
#include "descent/sched.h"
#include "sched/check.h"
#include "sched/spec_toml.h"
#include "sched/state_json.h"

namespace sched = descent::sched;
using descent::Error;

namespace {

constexpr double kRelTol = 1e-12;  // PyTorch steps most schedules recursively; we use closed forms
constexpr double kInf = std::numeric_limits<double>::infinity();

::testing::AssertionResult rel_near(double expected, double actual, double tol = kRelTol) {
  if (expected == actual || std::abs(expected - actual) <= tol * std::max(std::abs(expected), std::abs(actual)))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << std::setprecision(17) << expected << ", got " << actual
                                       << " (relative error "
                                       << std::abs(expected - actual) / std::max(std::abs(expected), std::abs(actual))
                                       << ")";
}

sched::ScheduleSpec parse(const std::string& schedule_toml) {
  toml::table t = toml::parse(schedule_toml);
  return sched::parse_schedule_spec(t, "config.toml");
}

// The config [schedule] table from the reference file's JSON (same keys, same types).
toml::table to_toml(const nlohmann::json& obj) {
  toml::table t;
  for (const auto& [key, v] : obj.items()) {
    if (v.is_object()) {
      t.insert(key, to_toml(v));
    } else if (v.is_array()) {
      toml::array a;
      for (const auto& e : v) a.push_back(e.get<std::int64_t>());
      t.insert(key, std::move(a));
    } else if (v.is_boolean()) {
      t.insert(key, v.get<bool>());
    } else if (v.is_number_integer()) {
      t.insert(key, v.get<std::int64_t>());
    } else if (v.is_number_float()) {
      t.insert(key, v.get<double>());
    } else {
      t.insert(key, v.get<std::string>());
    }
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// PyTorch reference values (tests/data/sched_reference.json, scripts/gen_sched_reference.py)

const nlohmann::json& reference() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(DESCENT_TEST_DATA) + "/sched_reference.json");
    if (!in) throw std::runtime_error("cannot open tests/data/sched_reference.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

std::vector<std::string> reference_names() {
  std::vector<std::string> names;
  for (const auto& c : reference()["cases"]) names.push_back(c["name"]);
  return names;
}

const nlohmann::json& reference_case(const std::string& name) {
  for (const auto& c : reference()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no reference case " + name);
}

class PyTorchReference : public ::testing::TestWithParam<std::string> {};

// Replays the training loop of the generator: lr (and momentum) before each optimizer step,
// step(), and the plateau metric at each epoch end.
TEST_P(PyTorchReference, MatchesEveryStep) {
  const auto& c = reference_case(GetParam());
  const std::int64_t spe = c["steps_per_epoch"];
  const auto spec = sched::parse_schedule_spec(to_toml(c["schedule"]), "reference");
  sched::Schedule s(spec, c["base_lr"].get<double>(), {.steps_per_epoch = spe});
  const auto& lr = c["lr"];
  const bool per_epoch = spec.granularity == sched::Granularity::Epoch;
  const std::int64_t steps = c["units"].get<std::int64_t>() * (per_epoch ? spe : 1);
  ASSERT_EQ(s.cycles_momentum(), c.contains("momentum"));
  for (std::int64_t step = 0; step < steps; ++step) {
    const std::size_t unit = static_cast<std::size_t>(per_epoch ? step / spe : step);
    ASSERT_TRUE(rel_near(lr[unit].get<double>(), s.lr())) << "step " << step;
    ASSERT_EQ(s.lr(), s.lr(step));
    if (c.contains("momentum")) {
      ASSERT_TRUE(rel_near(c["momentum"][unit].get<double>(), *s.momentum(step))) << "step " << step;
    }
    s.step();
    if (c.contains("metrics") && (step + 1) % spe == 0)
      s.end_epoch(c["metrics"][static_cast<std::size_t>((step + 1) / spe - 1)].get<double>());
  }
}

INSTANTIATE_TEST_SUITE_P(Sched, PyTorchReference, ::testing::ValuesIn(reference_names()),
                         [](const auto& info) { return info.param; });

// A schedule family cannot be added without PyTorch values for it.
TEST(PyTorchReferenceFile, CoversEveryScheduleAndPart) {
  std::set<std::string> types;
  bool warmup = false, plateau = false, plateau_on_main = false, epoch = false, momentum = false;
  for (const auto& c : reference()["cases"]) {
    const auto& s = c["schedule"];
    if (s.contains("main")) types.insert(s["main"]["type"].get<std::string>());
    warmup |= s.contains("warmup") && s.contains("main");
    plateau |= s.contains("plateau");
    plateau_on_main |= s.contains("plateau") && s.contains("main");
    epoch |= s.value("granularity", "step") == "epoch";
    momentum |= c.contains("momentum");
  }
  for (auto name : sched::detail::kMainTypeNames) EXPECT_TRUE(types.count(std::string(name))) << name;
  EXPECT_TRUE(warmup && plateau && plateau_on_main && epoch && momentum);
  EXPECT_GE(reference()["cases"].size(), 25u);
}

// ---------------------------------------------------------------------------------------------
// Closed forms, checked at the points where each schedule changes shape

TEST(Formula, StepAndMultiStepDecayAtTheirBoundaries) {
  const sched::StepLR step{.step_size = 30, .gamma = 0.1};
  EXPECT_EQ(sched::lr(step, 29, 0.5), 0.5);
  EXPECT_TRUE(rel_near(0.05, sched::lr(step, 30, 0.5)));
  EXPECT_TRUE(rel_near(0.005, sched::lr(step, 60, 0.5)));
  const sched::MultiStepLR multi{.milestones = {10, 20, 20}, .gamma = 0.5};
  EXPECT_EQ(sched::lr(multi, 9, 1.0), 1.0);
  EXPECT_EQ(sched::lr(multi, 10, 1.0), 0.5);
  EXPECT_EQ(sched::lr(multi, 20, 1.0), 0.125);  // a repeated milestone applies gamma twice
}

TEST(Formula, ExponentialPolynomialLinear) {
  EXPECT_TRUE(rel_near(0.1 * std::pow(0.9, 7), sched::lr(sched::ExponentialLR{.gamma = 0.9}, 7, 0.1)));
  const sched::PolynomialLR poly{.total_iters = 10, .power = 2.0};
  EXPECT_TRUE(rel_near(0.25, sched::lr(poly, 5, 1.0)));
  EXPECT_EQ(sched::lr(poly, 10, 1.0), 0.0);
  EXPECT_EQ(sched::lr(poly, 50, 1.0), 0.0);  // stays at 0 past total_iters
  // A warm-up from exactly 0 (PyTorch's recursive LinearLR divides by zero there).
  const sched::LinearLR ramp{.start_factor = 0.0, .end_factor = 1.0, .total_iters = 4};
  EXPECT_EQ(sched::lr(ramp, 0, 0.8), 0.0);
  EXPECT_TRUE(rel_near(0.2, sched::lr(ramp, 1, 0.8)));
  EXPECT_EQ(sched::lr(ramp, 4, 0.8), 0.8);
  EXPECT_EQ(sched::lr(ramp, 9, 0.8), 0.8);
}

TEST(Formula, CosineHitsMidpointAndMinimum) {
  const sched::CosineAnnealingLR cos{.t_max = 100, .eta_min = 0.01};
  EXPECT_EQ(sched::lr(cos, 0, 0.1), 0.1);
  EXPECT_TRUE(rel_near(0.055, sched::lr(cos, 50, 0.1)));
  EXPECT_TRUE(rel_near(0.01, sched::lr(cos, 100, 0.1)));
  EXPECT_TRUE(rel_near(0.1, sched::lr(cos, 200, 0.1)));  // PyTorch's cosine is periodic past T_max
}

TEST(Formula, WarmRestartsRestartAtGrowingCycles) {
  const sched::CosineAnnealingWarmRestarts sgdr{.t_0 = 10, .t_mult = 2, .eta_min = 0.0};
  for (std::int64_t restart : {0, 10, 30, 70, 150}) {
    EXPECT_EQ(sched::lr(sgdr, restart, 0.1), 0.1) << restart;
    if (restart > 0) {
      EXPECT_LT(sched::lr(sgdr, restart - 1, 0.1), 0.1 * 0.03) << restart;
    }
  }
  EXPECT_TRUE(rel_near(0.05, sched::lr(sgdr, 30 + 20, 0.1)));  // middle of the 40-step cycle
}

TEST(Formula, OneCyclePeaksAndEndsWhereDocumented) {
  const sched::OneCycleLR oc{.max_lr = 1.0, .total_steps = 100, .pct_start = 0.3};
  EXPECT_TRUE(rel_near(1.0 / 25, sched::lr(oc, 0, 0.5)));
  EXPECT_TRUE(rel_near(1.0, sched::lr(oc, 29, 0.5)));  // pct_start·total − 1
  EXPECT_TRUE(rel_near(1.0 / 25 / 1e4, sched::lr(oc, 99, 0.5)));
  EXPECT_EQ(sched::lr(oc, 150, 0.5), sched::lr(oc, 99, 0.5));  // holds past the cycle
  EXPECT_TRUE(rel_near(0.95, sched::momentum(oc, 0)));
  EXPECT_TRUE(rel_near(0.85, sched::momentum(oc, 29)));
  EXPECT_TRUE(rel_near(0.95, sched::momentum(oc, 99)));
  const sched::OneCycleLR from_base{.total_steps = 100};
  EXPECT_TRUE(rel_near(0.5, sched::lr(from_base, 29, 0.5)));  // max_lr unset: the base lr is the peak
}

TEST(Formula, OneCycleZeroLengthPhaseStandsAtItsEnd) {
  // pct_start·total_steps = 1 makes the rising phase a single point; PyTorch divides 0 by 0.
  const sched::OneCycleLR oc{.max_lr = 1.0, .total_steps = 10, .pct_start = 0.1};
  EXPECT_EQ(sched::lr(oc, 0, 1.0), 1.0);
  EXPECT_TRUE(std::isfinite(sched::lr(oc, 5, 1.0)));
}

// ---------------------------------------------------------------------------------------------
// Composition

TEST(Compose, WarmupThenCosineIsPiecewise) {
  const double b = 0.2;
  sched::Schedule s({.warmup = sched::LinearLR{.start_factor = 0.1, .total_iters = 10},
                     .main = sched::CosineAnnealingLR{.t_max = 50, .eta_min = 0.002}},
                    b);
  for (std::int64_t t = 0; t < 10; ++t) EXPECT_TRUE(rel_near(b * (0.1 + 0.9 * t / 10.0), s.lr(t))) << t;
  EXPECT_EQ(s.lr(10), b);  // main's counter starts at 0 when the warm-up ends
  for (std::int64_t k = 0; k <= 50; ++k)
    EXPECT_TRUE(rel_near(0.002 + (b - 0.002) * (1 + std::cos(std::numbers::pi * k / 50)) / 2, s.lr(10 + k))) << k;
}

TEST(Compose, EpochGranularityHoldsTheLrThroughAnEpoch) {
  sched::Schedule s({.main = sched::StepLR{.step_size = 2, .gamma = 0.5}, .granularity = sched::Granularity::Epoch},
                    1.0, {.steps_per_epoch = 3});
  const std::vector<double> expected = {1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(s.lr(std::int64_t(i)), expected[i]) << i;
}

TEST(Compose, PlateauMultipliesAfterPatienceAndRespectsCooldown) {
  sched::Schedule s({.main = sched::CosineAnnealingLR{.t_max = 100},
                     .plateau = sched::ReduceLROnPlateau{.factor = 0.5, .patience = 2, .cooldown = 2}},
                    0.1, {.steps_per_epoch = 1});
  auto chain = [](std::int64_t t) { return sched::lr(sched::CosineAnnealingLR{.t_max = 100}, t, 0.1); };
  // Epoch 1 sets the best; epochs 2, 3 are bad within patience; epoch 4 is the third bad one.
  std::vector<bool> cuts;
  for (int e = 0; e < 9; ++e) {
    s.step();
    cuts.push_back(s.end_epoch(1.0));
    EXPECT_EQ(s.lr(), s.lr(s.state().step));
  }
  // Cut at epoch 4; two cooldown epochs (5, 6) count nothing; then 7, 8 bad, cut at 9.
  EXPECT_EQ(cuts, (std::vector<bool>{false, false, false, true, false, false, false, false, true}));
  EXPECT_TRUE(rel_near(chain(9) * 0.25, s.lr()));
  EXPECT_TRUE(rel_near(chain(40) * 0.25, s.lr(40)));  // the cosine keeps running underneath
}

TEST(Compose, PlateauCutStopsAtMinLrOfTheMoment) {
  sched::Schedule s({.plateau = sched::ReduceLROnPlateau{.factor = 0.1, .patience = 0, .min_lr = 0.004}}, 0.1);
  s.end_epoch(1.0);  // best
  EXPECT_TRUE(s.end_epoch(1.0));
  EXPECT_TRUE(rel_near(0.01, s.lr()));
  EXPECT_TRUE(s.end_epoch(1.0));
  EXPECT_TRUE(rel_near(0.004, s.lr()));  // not 0.001
  EXPECT_FALSE(s.end_epoch(1.0));        // at the floor: no further cut
  EXPECT_TRUE(rel_near(0.004, s.lr()));
}

TEST(Compose, PlateauModesAndThresholds) {
  using P = sched::ReduceLROnPlateau;
  auto bad_epochs_after = [](const P& p, std::vector<double> metrics) {
    auto st = sched::initial_plateau_state(p);
    for (double m : metrics) sched::plateau_step(p, st, m, 1.0);
    return st.num_bad_epochs;
  };
  // rel: 0.95 is not below 1·(1 − 0.1); abs: it is below 1 − 0.01.
  EXPECT_EQ(bad_epochs_after({.threshold = 0.1}, {1.0, 0.95}), 1);
  EXPECT_EQ(bad_epochs_after({.threshold = 0.01, .threshold_mode = sched::ThresholdMode::Abs}, {1.0, 0.95}), 0);
  EXPECT_EQ(bad_epochs_after({.mode = sched::PlateauMode::Max, .threshold = 0.1}, {1.0, 1.05}), 1);
  EXPECT_EQ(bad_epochs_after({.mode = sched::PlateauMode::Max, .threshold = 0.1}, {1.0, 1.2}), 0);
  EXPECT_EQ(bad_epochs_after({}, {1.0, std::nan("")}), 1);  // NaN never improves
  EXPECT_EQ(sched::initial_plateau_state({.mode = sched::PlateauMode::Max}).best, -kInf);
}

TEST(Compose, RestOfRunResolvesTMaxAndTotalSteps) {
  sched::Schedule cos({.warmup = sched::LinearLR{.total_iters = 10}, .main = sched::CosineAnnealingLR{}}, 0.1,
                      {.steps_per_epoch = 10, .epochs = 5});
  EXPECT_EQ(std::get<sched::CosineAnnealingLR>(*cos.spec().main).t_max, 40);
  EXPECT_EQ(cos.run_steps(), 50);
  sched::Schedule oc({.main = sched::OneCycleLR{}, .granularity = sched::Granularity::Epoch}, 0.3,
                     {.steps_per_epoch = 10, .epochs = 5});
  const auto& o = std::get<sched::OneCycleLR>(*oc.spec().main);
  EXPECT_EQ(o.total_steps, 5);  // counted in epochs at epoch granularity
  EXPECT_EQ(*o.max_lr, 0.3);
  EXPECT_TRUE(oc.cycles_momentum());
}

TEST(Compose, MomentumWaitsDuringWarmupAndIsAbsentWithoutOneCycle) {
  sched::Schedule s({.warmup = sched::LinearLR{.total_iters = 5}, .main = sched::OneCycleLR{.total_steps = 20}}, 0.1);
  EXPECT_EQ(*s.momentum(), 0.95);  // the next step's, like lr()
  EXPECT_EQ(*s.momentum(4), 0.95);
  EXPECT_TRUE(rel_near(0.85, *s.momentum(5 + 5)));  // peak of the cycle: 0.3·20 − 1 = 5
  sched::Schedule plain({.main = sched::ExponentialLR{.gamma = 0.9}}, 0.1);
  EXPECT_FALSE(plain.cycles_momentum());
  EXPECT_FALSE(plain.momentum(3).has_value());
  sched::Schedule off({.main = sched::OneCycleLR{.total_steps = 20, .cycle_momentum = false}}, 0.1);
  EXPECT_FALSE(off.momentum(3).has_value());
}

TEST(Compose, EndEpochWithoutPlateauChangesNothing) {
  sched::Schedule s({.main = sched::ExponentialLR{.gamma = 0.5}}, 0.1);
  EXPECT_FALSE(s.end_epoch(123.0));
  EXPECT_EQ(s.lr(), 0.1);
  EXPECT_EQ(s.state().plateau.multiplier, 1.0);
}

TEST(Compose, ConstructorRejectsBadOptionsAndUnknownRunLength) {
  auto message = [](auto&& make) {
    try {
      make();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([] { sched::Schedule({.main = sched::StepLR{}}, 0.1); }),
            "schedule: [schedule.main] 'step_size' must be >= 1, got 0");
  EXPECT_EQ(message([] { sched::Schedule({.main = sched::ExponentialLR{}}, 0.1); }),
            "schedule: [schedule.main] 'gamma' must be > 0, got 0");
  EXPECT_EQ(message([] { sched::Schedule({}, 0.0); }), "schedule: base lr must be > 0, got 0");
  EXPECT_EQ(message([] { sched::Schedule({}, 0.1, {.steps_per_epoch = 0}); }),
            "schedule: steps_per_epoch must be >= 1, got 0");
  EXPECT_EQ(message([] { sched::Schedule({.main = sched::CosineAnnealingLR{}}, 0.1); }),
            "schedule: [schedule.main] 'T_max' is not set and the run length is unknown; set T_max or give the "
            "epochs");
  EXPECT_EQ(message([] {
              sched::Schedule({.warmup = sched::LinearLR{.total_iters = 20}, .main = sched::OneCycleLR{}}, 0.1,
                              {.steps_per_epoch = 4, .epochs = 5});
            }),
            "schedule: [schedule.main] 'total_steps' is not set and the warm-up (20) leaves nothing of the run (20); "
            "shorten the warm-up or set total_steps");
}

// ---------------------------------------------------------------------------------------------
// State: save, restore, damaged text

// Runs `s` for `steps` optimizer steps with epochs of 4 steps fed an oscillating metric; returns
// the lr of every step.
std::vector<double> run(sched::Schedule& s, std::int64_t steps) {
  std::vector<double> lrs;
  for (std::int64_t i = 0; i < steps; ++i) {
    lrs.push_back(s.lr());
    s.step();
    if (s.state().step % 4 == 0) s.end_epoch(1.0 / (1.0 + 0.1 * double(s.state().step % 24)));
  }
  return lrs;
}

TEST(State, ResumedRunEqualsUninterruptedRun) {
  const sched::ScheduleSpec spec{
      .warmup = sched::LinearLR{.start_factor = 0.2, .total_iters = 8},
      .main = sched::CosineAnnealingLR{.t_max = 200, .eta_min = 1e-4},
      .plateau = sched::ReduceLROnPlateau{.factor = 0.5, .patience = 1, .cooldown = 2, .min_lr = 1e-3}};
  sched::Schedule whole(spec, 0.1);
  const auto expected = run(whole, 200);

  sched::Schedule first(spec, 0.1);
  run(first, 90);  // mid-epoch, after cuts, inside a cooldown
  ASSERT_LT(first.state().plateau.multiplier, 1.0);
  const std::string saved = first.save_state();
  sched::Schedule resumed(spec, 0.1);
  resumed.load_state(saved);
  EXPECT_EQ(resumed.save_state(), saved);
  auto rest = run(resumed, 110);
  ASSERT_EQ(rest.size(), 110u);
  for (std::size_t i = 0; i < rest.size(); ++i) ASSERT_EQ(rest[i], expected[90 + i]) << "step " << 90 + i;
}

TEST(State, EveryDoubleRoundTripsBitForBit) {
  for (double x : {0.1 + 0.2, 1.0 / 3.0, 5e-324, 1.7976931348623157e308, kInf, -kInf, 0.0, -0.0}) {
    sched::ScheduleState s{.step = 123456789012, .plateau = {.best = x, .num_bad_epochs = 3, .cooldown_counter = 2,
                                                             .multiplier = 1.0 / 3.0},
                           .last_lr = x};
    const auto j = sched::detail::state_to_json(s);
    const auto back = sched::detail::state_from_json(nlohmann::json::parse(j.dump()), "t");
    EXPECT_EQ(std::memcmp(&back.plateau.best, &x, sizeof x), 0) << j.dump();
    EXPECT_EQ(std::memcmp(&back.last_lr, &x, sizeof x), 0) << j.dump();
    EXPECT_EQ(back.plateau.multiplier, 1.0 / 3.0);
    EXPECT_EQ(back.step, 123456789012);
    EXPECT_EQ(back.plateau.num_bad_epochs, 3);
    EXPECT_EQ(back.plateau.cooldown_counter, 2);
  }
  sched::ScheduleState nan_state{.last_lr = std::nan("")};
  EXPECT_TRUE(std::isnan(
      sched::detail::state_from_json(sched::detail::state_to_json(nan_state), "t").last_lr));
}

struct StateError {
  const char* json;
  const char* message;
};

const StateError kStateErrors[] = {
    {"{not json", "schedule state: not valid JSON"},
    {"[1, 2]", "schedule state: expected a JSON object, got array"},
    {R"({"format": "descent.checkpoint"})",
     "schedule state: not a schedule state (field 'format' is not \"descent.schedule_state\")"},
    {R"({"format": "descent.schedule_state", "version": 2})", "schedule state: unsupported version 2 (expected 1)"},
    {R"({"format": "descent.schedule_state", "version": 1})", "schedule state: missing field 'step'"},
    {R"({"format": "descent.schedule_state", "version": 1, "step": -3})",
     "schedule state: field 'step' must be >= 0, got -3"},
    {R"({"format": "descent.schedule_state", "version": 1, "step": 1.5})",
     "schedule state: field 'step' must be an integer"},
    {R"({"format": "descent.schedule_state", "version": 1, "step": 3, "last_lr": 0.1})",
     "schedule state: field 'last_lr' must be a number written as a string, got 0.1"},
    {R"({"format": "descent.schedule_state", "version": 1, "step": 3, "last_lr": "0.1x"})",
     "schedule state: field 'last_lr' must be a number written as a string, got \"0.1x\""},
    {R"({"format": "descent.schedule_state", "version": 1, "step": 3, "last_lr": "0.1"})",
     "schedule state: missing field 'plateau'"},
    {R"({"format": "descent.schedule_state", "version": 1, "step": 3, "last_lr": "0.1",
         "plateau": {"best": "inf", "num_bad_epochs": 0, "cooldown_counter": 0}})",
     "schedule state: missing field 'plateau.multiplier'"},
    {R"({"format": "descent.schedule_state", "version": 1, "step": 3, "last_lr": "0.1",
         "plateau": {"best": "inf", "num_bad_epochs": 0, "cooldown_counter": 0, "multiplier": "0"}})",
     "schedule state: field 'plateau.multiplier' must be in (0, 1], got 0"},
};

TEST(State, DamagedTextGivesOneLineNamingTheField) {
  for (const auto& e : kStateErrors) {
    sched::Schedule s({.main = sched::ExponentialLR{.gamma = 0.9}}, 0.1);
    s.step();
    const std::string before = s.save_state();
    try {
      s.load_state(e.json);
      ADD_FAILURE() << "no error for " << e.json;
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()), e.message) << e.json;
    }
    EXPECT_EQ(s.save_state(), before) << "a failed load must leave the state alone";
  }
}

// ---------------------------------------------------------------------------------------------
// [schedule] in the config

TEST(Spec, ParsesEveryPartWithPyTorchNames) {
  const auto spec = parse(R"(
    granularity = "epoch"
    warmup = { start_factor = 0.01, end_factor = 1, total_iters = 3 }
    [main]
    type = "one_cycle"
    max_lr = 1
    total_steps = 40
    pct_start = 0.25
    anneal_strategy = "linear"
    cycle_momentum = false
    base_momentum = 0.8
    max_momentum = 0.9
    div_factor = 10
    final_div_factor = 1e3
    [plateau]
    metric = "val_accuracy"
    mode = "max"
    factor = 0.3
    patience = 4
    threshold = 0.002
    threshold_mode = "abs"
    cooldown = 1
    min_lr = 1e-5
    eps = 0
  )");
  EXPECT_EQ(spec.granularity, sched::Granularity::Epoch);
  ASSERT_TRUE(spec.warmup);
  EXPECT_EQ(spec.warmup->start_factor, 0.01);
  EXPECT_EQ(spec.warmup->end_factor, 1.0);  // an integer where a float goes is fine
  EXPECT_EQ(spec.warmup->total_iters, 3);
  const auto& o = std::get<sched::OneCycleLR>(*spec.main);
  EXPECT_EQ(*o.max_lr, 1.0);
  EXPECT_EQ(o.total_steps, 40);
  EXPECT_EQ(o.pct_start, 0.25);
  EXPECT_EQ(o.anneal_strategy, sched::Anneal::Linear);
  EXPECT_FALSE(o.cycle_momentum);
  EXPECT_EQ(o.base_momentum, 0.8);
  EXPECT_EQ(o.max_momentum, 0.9);
  EXPECT_EQ(o.div_factor, 10.0);
  EXPECT_EQ(o.final_div_factor, 1e3);
  const auto& p = *spec.plateau;
  EXPECT_EQ(p.metric, "val_accuracy");
  EXPECT_EQ(p.mode, sched::PlateauMode::Max);
  EXPECT_EQ(p.factor, 0.3);
  EXPECT_EQ(p.patience, 4);
  EXPECT_EQ(p.threshold, 0.002);
  EXPECT_EQ(p.threshold_mode, sched::ThresholdMode::Abs);
  EXPECT_EQ(p.cooldown, 1);
  EXPECT_EQ(p.min_lr, 1e-5);
  EXPECT_EQ(p.eps, 0.0);
}

TEST(Spec, EveryMainTypeParsesWithItsKeys) {
  auto main_of = [](const std::string& body) { return *parse("main = { " + body + " }").main; };
  EXPECT_EQ(std::get<sched::ConstantLR>(main_of(R"(type = "constant", factor = 0.5, total_iters = 3)")).total_iters, 3);
  EXPECT_EQ(std::get<sched::StepLR>(main_of(R"(type = "step", step_size = 7, gamma = 0.5)")).step_size, 7);
  EXPECT_EQ(std::get<sched::MultiStepLR>(main_of(R"(type = "multistep", milestones = [3, 9])")).milestones,
            (std::vector<std::int64_t>{3, 9}));
  EXPECT_EQ(std::get<sched::ExponentialLR>(main_of(R"(type = "exponential", gamma = 0.97)")).gamma, 0.97);
  EXPECT_EQ(std::get<sched::PolynomialLR>(main_of(R"(type = "polynomial", total_iters = 9, power = 2)")).power, 2.0);
  EXPECT_EQ(std::get<sched::LinearLR>(main_of(R"(type = "linear", start_factor = 1, end_factor = 0)")).end_factor, 0.0);
  EXPECT_EQ(std::get<sched::CosineAnnealingLR>(main_of(R"(type = "cosine", T_max = 90, eta_min = 0)")).t_max, 90);
  const auto sgdr = std::get<sched::CosineAnnealingWarmRestarts>(
      main_of(R"(type = "cosine_warm_restarts", T_0 = 5, T_mult = 3, eta_min = 1e-6)"));
  EXPECT_EQ(sgdr.t_0, 5);
  EXPECT_EQ(sgdr.t_mult, 3);
  EXPECT_EQ(sgdr.eta_min, 1e-6);
  EXPECT_FALSE(std::get<sched::OneCycleLR>(main_of(R"(type = "one_cycle")")).max_lr.has_value());
}

TEST(Spec, EmptyTableIsAConstantStepSchedule) {
  const auto spec = parse("");
  EXPECT_FALSE(spec.warmup || spec.main || spec.plateau);
  EXPECT_EQ(spec.granularity, sched::Granularity::Step);
  EXPECT_EQ(parse(R"(plateau = {})").plateau->metric, "val_loss");
}

struct SpecError {
  const char* toml;
  const char* message;
};

const SpecError kSpecErrors[] = {
    // unknown keys, with and without a suggestion
    {R"(warmpu = { total_iters = 5 })", "config.toml: [schedule] unknown key 'warmpu' (did you mean 'warmup'?)"},
    {R"(lr = 0.1)", "config.toml: [schedule] unknown key 'lr' (valid keys: granularity, warmup, main, plateau)"},
    {R"(main = { type = "step", step_size = 3, gama = 0.5 })",
     "config.toml: [schedule.main] unknown key 'gama' (did you mean 'gamma'?)"},
    {R"(main = { type = "cosine", t_max = 10 })",
     "config.toml: [schedule.main] unknown key 't_max' (did you mean 'T_max'?)"},
    {R"(main = { type = "step", step_size = 3, T_max = 5 })",
     "config.toml: [schedule.main] unknown key 'T_max' for type 'step' (valid keys: type, step_size, gamma)"},
    {R"(main = { tpye = "step" })", "config.toml: [schedule.main] unknown key 'tpye' (did you mean 'type'?)"},
    {R"(warmup = { total_iters = 5, start = 0.1 })",
     "config.toml: [schedule.warmup] unknown key 'start' (valid keys: start_factor, end_factor, total_iters)"},
    {R"(plateau = { patiense = 3 })", "config.toml: [schedule.plateau] unknown key 'patiense' (did you mean 'patience'?)"},
    // the main type
    {R"(main = { gamma = 0.5 })",
     "config.toml: [schedule.main] missing key 'type' (one of: constant, step, multistep, exponential, polynomial, "
     "linear, cosine, cosine_warm_restarts, one_cycle)"},
    {R"(main = { type = "cosin" })", "config.toml: [schedule.main] unknown type 'cosin' (did you mean 'cosine'?)"},
    {R"(main = { type = "lambda" })",
     "config.toml: [schedule.main] unknown type 'lambda' (one of: constant, step, multistep, exponential, "
     "polynomial, linear, cosine, cosine_warm_restarts, one_cycle)"},
    {R"(main = { type = 3 })", "config.toml: [schedule.main] 'type' must be a string, got an integer (3)"},
    // wrong types
    {R"(main = "cosine")", "config.toml: [schedule] 'main' must be a table, got a string (\"cosine\")"},
    {R"(main = { type = "step", step_size = "7" })",
     "config.toml: [schedule.main] 'step_size' must be an integer, got a string (\"7\")"},
    {R"(main = { type = "step", step_size = 7.5 })",
     "config.toml: [schedule.main] 'step_size' must be an integer, got a float (7.5)"},
    {R"(main = { type = "exponential", gamma = "0.9" })",
     "config.toml: [schedule.main] 'gamma' must be a number, got a string (\"0.9\")"},
    {R"(main = { type = "multistep", milestones = 30 })",
     "config.toml: [schedule.main] 'milestones' must be an array of integers, got an integer (30)"},
    {R"(main = { type = "multistep", milestones = [30, 60.5] })",
     "config.toml: [schedule.main] 'milestones' must be an array of integers, got an element that is a float (60.5)"},
    {R"(main = { type = "one_cycle", cycle_momentum = 1 })",
     "config.toml: [schedule.main] 'cycle_momentum' must be true or false, got an integer (1)"},
    {R"(plateau = { metric = 1 })", "config.toml: [schedule.plateau] 'metric' must be a string, got an integer (1)"},
    // missing required keys
    {R"(main = { type = "step" })", "config.toml: [schedule.main] missing key 'step_size' (required for type 'step')"},
    {R"(main = { type = "multistep" })",
     "config.toml: [schedule.main] missing key 'milestones' (required for type 'multistep')"},
    {R"(main = { type = "exponential" })",
     "config.toml: [schedule.main] missing key 'gamma' (required for type 'exponential')"},
    {R"(main = { type = "cosine_warm_restarts" })",
     "config.toml: [schedule.main] missing key 'T_0' (required for type 'cosine_warm_restarts')"},
    {R"(warmup = { start_factor = 0.1 })", "config.toml: [schedule.warmup] missing key 'total_iters'"},
    // choices
    {R"(granularity = "batch")", "config.toml: [schedule] 'granularity' must be \"step\" or \"epoch\", got \"batch\""},
    {R"(plateau = { mode = "minimum" })", "config.toml: [schedule.plateau] 'mode' must be \"min\" or \"max\", got \"minimum\""},
    {R"(plateau = { threshold_mode = "relative" })",
     "config.toml: [schedule.plateau] 'threshold_mode' must be \"rel\" or \"abs\", got \"relative\""},
    {R"(main = { type = "one_cycle", anneal_strategy = "cosine" })",
     "config.toml: [schedule.main] 'anneal_strategy' must be \"cos\" or \"linear\", got \"cosine\""},
    // values out of range
    {R"(main = { type = "step", step_size = 0 })", "config.toml: [schedule.main] 'step_size' must be >= 1, got 0"},
    {R"(main = { type = "exponential", gamma = -0.5 })", "config.toml: [schedule.main] 'gamma' must be > 0, got -0.5"},
    {R"(main = { type = "multistep", milestones = [] })",
     "config.toml: [schedule.main] 'milestones' must list at least one step, got []"},
    {R"(main = { type = "multistep", milestones = [60, 30] })",
     "config.toml: [schedule.main] 'milestones' must be non-decreasing, got 30 after 60"},
    {R"(main = { type = "polynomial", total_iters = 0 })",
     "config.toml: [schedule.main] 'total_iters' must be >= 1, got 0"},
    {R"(main = { type = "cosine", T_max = -1 })", "config.toml: [schedule.main] 'T_max' must be >= 0, got -1"},
    {R"(main = { type = "cosine", eta_min = -1e-5 })",
     "config.toml: [schedule.main] 'eta_min' must be >= 0, got -1e-05"},
    {R"(main = { type = "cosine_warm_restarts", T_0 = 10, T_mult = 0 })",
     "config.toml: [schedule.main] 'T_mult' must be >= 1, got 0"},
    {R"(main = { type = "one_cycle", pct_start = 1.5 })",
     "config.toml: [schedule.main] 'pct_start' must be in [0, 1], got 1.5"},
    {R"(main = { type = "one_cycle", max_lr = 0 })", "config.toml: [schedule.main] 'max_lr' must be > 0, got 0"},
    {R"(main = { type = "one_cycle", div_factor = 0 })",
     "config.toml: [schedule.main] 'div_factor' must be > 0, got 0"},
    {R"(warmup = { start_factor = 2, total_iters = 5 })",
     "config.toml: [schedule.warmup] 'start_factor' must be in [0, 1], got 2"},
    {R"(plateau = { factor = 1.0 })", "config.toml: [schedule.plateau] 'factor' must be in (0, 1), got 1"},
    {R"(plateau = { patience = -1 })", "config.toml: [schedule.plateau] 'patience' must be >= 0, got -1"},
    {R"(plateau = { cooldown = -2 })", "config.toml: [schedule.plateau] 'cooldown' must be >= 0, got -2"},
    {R"(plateau = { min_lr = -1.0 })", "config.toml: [schedule.plateau] 'min_lr' must be >= 0, got -1"},
    {R"(plateau = { metric = "" })", "config.toml: [schedule.plateau] 'metric' must name a metric, got \"\""},
};

TEST(Spec, EveryErrorIsOneLineNamingTheField) {
  for (const auto& e : kSpecErrors) {
    try {
      parse(e.toml);
      ADD_FAILURE() << "no error for " << e.toml;
    } catch (const Error& err) {
      EXPECT_EQ(std::string(err.what()), e.message) << e.toml;
    }
  }
}

TEST(Spec, SubTableAndInlineTableAreTheSame) {
  const auto a = parse("[main]\ntype = \"step\"\nstep_size = 4\ngamma = 0.3\n");
  const auto b = parse("main = { type = \"step\", step_size = 4, gamma = 0.3 }");
  EXPECT_EQ(std::get<sched::StepLR>(*a.main).step_size, std::get<sched::StepLR>(*b.main).step_size);
  EXPECT_EQ(std::get<sched::StepLR>(*a.main).gamma, std::get<sched::StepLR>(*b.main).gamma);
  // Nested under [schedule] of a whole config, as the config loader passes it.
  toml::table config = toml::parse("[schedule]\ngranularity = \"epoch\"\n[schedule.main]\ntype = \"exponential\"\ngamma = 0.9\n");
  const auto c = sched::parse_schedule_spec(*config["schedule"].as_table(), "config.toml");
  EXPECT_EQ(c.granularity, sched::Granularity::Epoch);
  EXPECT_EQ(std::get<sched::ExponentialLR>(*c.main).gamma, 0.9);
}

// The config loader keeps [schedule] as TOML text (the table printed by toml++); the text
// overload reads it back to the same spec.
TEST(Spec, TextOfTheScheduleTableParsesToTheSameSpec) {
  toml::table config = toml::parse(R"(
    [schedule]
    granularity = "epoch"
    warmup = { start_factor = 0.25, total_iters = 2 }
    main = { type = "multistep", milestones = [3, 5], gamma = 0.5 }
    [schedule.plateau]
    patience = 1
  )");
  std::ostringstream text;
  text << *config["schedule"].as_table();
  const auto spec = sched::parse_schedule_spec(text.str(), "config.toml");
  EXPECT_EQ(spec.granularity, sched::Granularity::Epoch);
  EXPECT_EQ(spec.warmup->start_factor, 0.25);
  EXPECT_EQ(std::get<sched::MultiStepLR>(*spec.main).milestones, (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(spec.plateau->patience, 1);
  EXPECT_FALSE(sched::parse_schedule_spec(std::string(), "config.toml").main.has_value());
  try {
    sched::parse_schedule_spec(std::string("main = {"), "config.toml");
    ADD_FAILURE() << "no error for broken TOML";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("config.toml: [schedule] is not valid TOML: ", 0), 0u) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// `descent schedule`: CSV and SVG

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Csv, StepZeroIsTheFirstOptimizerStepAndValuesAreExact) {
  sched::Schedule s({.warmup = sched::LinearLR{.start_factor = 0.1, .total_iters = 3},
                     .main = sched::CosineAnnealingLR{.t_max = 7}},
                    0.1);
  const auto rows = lines_of(sched::schedule_csv(sched::trace(s, 10)));
  ASSERT_EQ(rows.size(), 11u);
  EXPECT_EQ(rows[0], "step,lr");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto comma = rows[i].find(',');
    EXPECT_EQ(std::stoll(rows[i].substr(0, comma)), std::int64_t(i - 1));
    EXPECT_EQ(std::strtod(rows[i].c_str() + comma + 1, nullptr), s.lr(std::int64_t(i - 1))) << rows[i];
  }
  EXPECT_EQ(rows[1], "0,0.010000000000000002");  // 0.1·0.1, bit for bit what PyTorch gives
}

TEST(Csv, MomentumColumnOnlyWhenCycled) {
  sched::Schedule s({.main = sched::OneCycleLR{.max_lr = 1.0, .total_steps = 10}}, 0.1);
  const auto t = sched::trace(s, 10);
  ASSERT_EQ(t.momentum.size(), 10u);
  const auto rows = lines_of(sched::schedule_csv(t));
  EXPECT_EQ(rows[0], "step,lr,momentum");
  EXPECT_EQ(rows[1], "0,0.040000000000000036,0.95");  // PyTorch's value, to the last bit
  EXPECT_EQ(lines_of(sched::schedule_csv(sched::trace(sched::Schedule({}, 0.1), 2)))[0], "step,lr");
  EXPECT_THROW(sched::schedule_csv({.lr = {0.1, 0.2}, .momentum = {0.9}}), Error);
}

std::vector<std::string> polylines(const std::string& svg) {
  std::vector<std::string> out;
  for (std::size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) {
    const std::size_t begin = svg.find("points=\"", at) + 8;
    out.push_back(svg.substr(begin, svg.find('"', begin) - begin));
  }
  return out;
}

std::vector<std::pair<double, double>> points_of(const std::string& attr) {
  std::vector<std::pair<double, double>> pts;
  std::istringstream in(attr);
  for (std::string p; in >> p;) pts.emplace_back(std::stod(p), std::stod(p.substr(p.find(',') + 1)));
  return pts;
}

TEST(Svg, OnePointPerStepOnAxesWithTickLabels) {
  sched::Schedule s({.main = sched::CosineAnnealingLR{.t_max = 99}}, 0.1);
  const auto t = sched::trace(s, 100);
  const std::string svg = sched::schedule_svg(t.lr, nullptr);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 1u);
  const auto pts = points_of(lines[0]);
  ASSERT_EQ(pts.size(), 100u);
  for (std::size_t i = 1; i < pts.size(); ++i) {
    EXPECT_GT(pts[i].first, pts[i - 1].first);
    EXPECT_GE(pts[i].second, pts[i - 1].second);  // a falling lr goes down the picture (SVG y grows down)
  }
  EXPECT_NE(svg.find(">0.1</text>"), std::string::npos);  // lr tick at the base lr
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);  // step tick
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  // Every opened element is closed or self-closed: count '<' against '/>' and '</'.
  std::size_t open = 0, closed = 0;
  for (std::size_t i = 0; i + 1 < svg.size(); ++i) {
    if (svg[i] == '<' && svg[i + 1] != '/') ++open;
    if ((svg[i] == '/' && svg[i + 1] == '>') || (svg[i] == '<' && svg[i + 1] == '/')) ++closed;
  }
  EXPECT_EQ(open, closed);
}

TEST(Svg, MomentumGetsASecondLineAndLongTracesAreThinned) {
  sched::Schedule s({.main = sched::OneCycleLR{.max_lr = 1.0, .total_steps = 50}}, 0.1);
  const auto t = sched::trace(s, 50);
  const auto svg = sched::schedule_svg(t.lr, &t.momentum);
  const auto lines = polylines(svg);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(points_of(lines[1]).size(), 50u);
  EXPECT_NE(svg.find(">momentum</text>"), std::string::npos);

  // 100 warm restarts over 100000 steps: thinned to a few thousand points, but every restart's
  // peak (lr 0.1, the top of the plot) is still drawn.
  sched::Schedule long_run({.main = sched::CosineAnnealingWarmRestarts{.t_0 = 1000}}, 0.1);
  const auto big = sched::trace(long_run, 100000);
  const auto thin = points_of(polylines(sched::schedule_svg(big.lr, nullptr))[0]);
  EXPECT_LE(thin.size(), 4001u);
  EXPECT_GE(thin.size(), 1000u);
  double top = 1e9;
  for (const auto& p : thin) top = std::min(top, p.second);
  EXPECT_EQ(std::count_if(thin.begin(), thin.end(), [&](const auto& p) { return p.second == top; }), 100);
}

TEST(Svg, RejectsNothingToPlotAndNonFiniteValues) {
  EXPECT_THROW(sched::schedule_svg({}, nullptr), Error);
  EXPECT_THROW(sched::schedule_svg({0.1, std::nan("")}, nullptr), Error);
  const std::vector<double> short_momentum{0.9};
  EXPECT_THROW(sched::schedule_svg({0.1, 0.2}, &short_momentum), Error);
  EXPECT_EQ(points_of(polylines(sched::schedule_svg({0.1}, nullptr))[0]).size(), 1u);
}

}  // namespace

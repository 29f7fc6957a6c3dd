// `descent schedule` and `descent lr-find` as a user runs them (the built binary, on the tiny IDX
// fixture of tests/data/idx: 6 images of 4x5 pixels, batch 4, so 2 optimizer steps per epoch), and
// the library's train::lr_find on a Trainer: the curve it records and the state it restores.
//
// To add a schedule case: write a config with schedule_config(...) and compare the CSV with the
// closed form written out in the test (not with the library's own functions).
#include <gtest/gtest.h>

#include "process_test_util.h"
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "descent/config.h"
#include "descent/error.h"
#include "descent/train.h"

namespace fs = std::filesystem;

namespace {

using process_test::read_file;
using process_test::RunResult;

fs::path temp_dir(const std::string& name) { return process_test::temp_dir("sched_cli_test", name); }

// Runs the CLI from inside `dir`, so files written by default land there.
RunResult run(const std::string& args, const fs::path& dir) {
  return process_test::shell("cd " + dir.string() + " && " + std::string(DESCENT_CLI) + " " + args, dir);
}

std::string idx(const std::string& name) { return std::string(DESCENT_TEST_DATA) + "/idx/" + name; }

// The tiny run of tests/cli_test.cpp (3 epochs x 2 steps, SGD lr 0.1) plus a [schedule] body.
std::string tiny_config(const std::string& schedule = "", const std::string& optimizer = "type = \"sgd\"\nlr = 0.1\nmomentum = 0.9\n") {
  std::string text = "[data]\n"
                     "train_images = \"" + idx("images-idx3-ubyte") + "\"\n"
                     "train_labels = \"" + idx("labels-idx1-ubyte") + "\"\n"
                     "test_images = \"" + idx("images-idx3-ubyte.gz") + "\"\n"
                     "test_labels = \"" + idx("labels-idx1-ubyte.gz") + "\"\n"
                     "[model]\n"
                     "input_shape = [20]\n"
                     "layers = [ { type = \"linear\", out_features = 8 }, { type = \"relu\" }, { type = \"linear\", out_features = 10 } ]\n"
                     "[optimizer]\n" + optimizer +
                     "[train]\n"
                     "epochs = 3\n"
                     "batch_size = 4\n"
                     "seed = 7\n"
                     "threads = 1\n";
  if (!schedule.empty()) text += "[schedule]\n" + schedule;
  return text;
}

fs::path write_config(const fs::path& dir, const std::string& text, const std::string& name = "tiny.toml") {
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p;
}

struct Csv {
  std::string header;
  std::vector<std::vector<double>> rows;
};

Csv parse_csv(const std::string& text) {
  Csv c;
  std::stringstream ss(text);
  std::getline(ss, c.header);
  for (std::string line; std::getline(ss, line);) {
    std::vector<double> row;
    std::stringstream ls(line);
    for (std::string cell; std::getline(ls, cell, ',');) row.push_back(std::stod(cell));
    c.rows.push_back(row);
  }
  return c;
}

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

constexpr double kPi = 3.14159265358979323846;

// ---- descent schedule ------------------------------------------------------------------------

TEST(ScheduleCli, WarmupThenCosineEqualsTheClosedForm) {
  auto dir = temp_dir("warmup_cosine");
  auto cfg = write_config(dir, tiny_config("warmup = { start_factor = 0.25, total_iters = 2 }\n"
                                           "main = { type = \"cosine\", eta_min = 0.01 }\n"));
  RunResult r = run("schedule " + cfg.string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  Csv c = parse_csv(r.out);
  EXPECT_EQ(c.header, "step,lr");
  // 3 epochs x 2 batches = 6 steps: LinearLR 0.1·(0.25 + 0.75·t/2) for t < 2, then cosine with
  // T_max = the 4 steps left: 0.01 + 0.09·(1 + cos(π t/4))/2.
  const double expected[] = {0.025, 0.0625, 0.1, 0.01 + 0.09 * (1 + std::cos(kPi / 4)) / 2, 0.055,
                             0.01 + 0.09 * (1 + std::cos(3 * kPi / 4)) / 2};
  ASSERT_EQ(c.rows.size(), 6u) << r.out;
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_EQ(c.rows[i].size(), 2u);
    EXPECT_EQ(c.rows[i][0], static_cast<double>(i));
    EXPECT_NEAR(c.rows[i][1], expected[i], 1e-15) << "step " << i;
  }
  EXPECT_TRUE(fs::exists(dir / "schedule.svg")) << "default SVG in the current folder";
  EXPECT_EQ(read_file(dir / "schedule.svg").rfind("<svg", 0), 0u);

  // --steps goes past the run: the cosine climbs back up (PyTorch's curve past T_max).
  r = run("schedule " + cfg.string() + " --steps 9 --svg " + (dir / "long.svg").string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  c = parse_csv(r.out);
  ASSERT_EQ(c.rows.size(), 9u);
  EXPECT_NEAR(c.rows[6][1], 0.01, 1e-15);                                         // t = 4 = T_max
  EXPECT_NEAR(c.rows[8][1], 0.01 + 0.09 * (1 + std::cos(6 * kPi / 4)) / 2, 1e-15);  // t = 6
  const std::string svg = read_file(dir / "long.svg");
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_EQ(svg.find("momentum"), std::string::npos) << "no momentum axis without a one-cycle";
}

TEST(ScheduleCli, EpochGranularityAndOverrides) {
  auto dir = temp_dir("epoch");
  auto cfg = write_config(dir, tiny_config("granularity = \"epoch\"\nmain = { type = \"step\", step_size = 1, gamma = 0.5 }\n"));
  // --set reaches the schedule too: 4 epochs of 2 steps, the lr halving once per epoch.
  RunResult r = run("schedule " + cfg.string() + " --set train.epochs=4 --set optimizer.lr=0.2", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  Csv c = parse_csv(r.out);
  ASSERT_EQ(c.rows.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_DOUBLE_EQ(c.rows[i][1], 0.2 * std::pow(0.5, static_cast<double>(i / 2))) << i;
}

TEST(ScheduleCli, WithoutAScheduleTheLrIsConstant) {
  auto dir = temp_dir("constant");
  auto cfg = write_config(dir, tiny_config());
  RunResult r = run("schedule " + cfg.string() + " --set train.max_steps=5", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  Csv c = parse_csv(r.out);
  EXPECT_EQ(c.header, "step,lr");
  ASSERT_EQ(c.rows.size(), 5u) << "max_steps caps the run";
  for (const auto& row : c.rows) EXPECT_EQ(row[1], 0.1);
}

TEST(ScheduleCli, OneCycleAddsTheMomentumColumn) {
  auto dir = temp_dir("one_cycle");
  auto cfg = write_config(dir, tiny_config("main = { type = \"one_cycle\", max_lr = 0.4, pct_start = 0.5 }\n"));
  RunResult r = run("schedule " + cfg.string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  Csv c = parse_csv(r.out);
  EXPECT_EQ(c.header, "step,lr,momentum");
  ASSERT_EQ(c.rows.size(), 6u);
  // total 6, e1 = 0.5·6 − 1 = 2, e2 = 5; initial 0.4/25 = 0.016, final 0.016/1e4.
  // Phase 1 (t <= 2): lr = m + (i − m)(1 + cos(π t/2))/2, momentum 0.85 + 0.1(1 + cos(π t/2))/2.
  // Phase 2: lr = f + (m − f)(1 + cos(π (t−2)/3))/2, momentum 0.95 + (0.85 − 0.95)(1 + cos(π (t−2)/3))/2.
  const double m = 0.4, i0 = 0.016, f = 0.016 / 1e4;
  for (size_t k = 0; k < 6; ++k) {
    const double t = static_cast<double>(k);
    double lr, mom;
    if (t <= 2) {
      const double c1 = (1 + std::cos(kPi * t / 2)) / 2;
      lr = m + (i0 - m) * c1, mom = 0.85 + 0.1 * c1;
    } else {
      const double c2 = (1 + std::cos(kPi * (t - 2) / 3)) / 2;
      lr = f + (m - f) * c2, mom = 0.95 + (0.85 - 0.95) * c2;
    }
    ASSERT_EQ(c.rows[k].size(), 3u);
    EXPECT_NEAR(c.rows[k][1], lr, 1e-15) << "step " << k;
    EXPECT_NEAR(c.rows[k][2], mom, 1e-15) << "step " << k;
  }
  EXPECT_NEAR(c.rows[0][1], 0.016, 1e-16);  // max_lr / div_factor
  EXPECT_NEAR(c.rows[2][1], 0.4, 1e-16);
  EXPECT_NE(read_file(dir / "schedule.svg").find("momentum"), std::string::npos);

  // Without cycle_momentum the column goes away.
  cfg = write_config(dir, tiny_config("main = { type = \"one_cycle\", max_lr = 0.4, cycle_momentum = false }\n"));
  r = run("schedule " + cfg.string(), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parse_csv(r.out).header, "step,lr");
}

TEST(ScheduleCli, BadScheduleIsOneLineAndExitTwo) {
  struct Case {
    std::string schedule, must_contain;
  };
  const std::vector<Case> cases = {
      {"main = { type = \"step\", step_size = 1, gama = 0.5 }\n", "did you mean 'gamma'"},
      {"main = { type = \"cosin\" }\n", "cosin"},
      {"warmup = { start_factor = 0.1, total_iters = 50 }\nmain = { type = \"cosine\" }\n", "T_max"},
      {"main = { type = \"step\", step_size = 0 }\n", "step_size"},
  };
  for (const auto& c : cases) {
    auto dir = temp_dir("bad");
    auto cfg = write_config(dir, tiny_config(c.schedule));
    RunResult r = run("schedule " + cfg.string(), dir);
    EXPECT_EQ(r.code, 2) << c.schedule << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("tiny.toml"), std::string::npos) << "names the file: " << r.err;
    EXPECT_NE(r.err.find(c.must_contain), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(dir / "schedule.svg"));
  }
}

// ---- descent lr-find --------------------------------------------------------------------------

TEST(LrFindCli, WritesCurveAndAppliesTheSuggestion) {
  auto dir = temp_dir("lr_find");
  // A comment in [optimizer] must survive --apply, which edits the lr line in place.
  auto cfg = write_config(dir, tiny_config("", "type = \"sgd\"  # plain SGD\nlr = 0.1\nmomentum = 0.9\n"));
  RunResult r = run("lr-find " + cfg.string() + " --steps 60 --out lf --apply applied.toml", dir);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  Csv c = parse_csv(read_file(dir / "lf" / "lr_find.csv"));
  EXPECT_EQ(c.header, "step,lr,loss,smoothed_loss");
  ASSERT_GE(c.rows.size(), 10u);
  ASSERT_LE(c.rows.size(), 60u);
  EXPECT_EQ(c.rows[0][1], 1e-7);
  EXPECT_EQ(c.rows[0][3], c.rows[0][2]) << "bias correction: the first smoothed value is the first loss";
  const double growth = std::pow(10.0 / 1e-7, 1.0 / 59.0);
  for (size_t i = 1; i < c.rows.size(); ++i) EXPECT_NEAR(c.rows[i][1] / c.rows[i - 1][1], growth, 1e-9) << i;
  if (c.rows.size() == 60u) {
    EXPECT_NEAR(c.rows.back()[1], 10.0, 1e-12);
  }
  const std::string svg = read_file(dir / "lf" / "lr_find.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("(suggested)"), std::string::npos);
  EXPECT_NE(svg.find("min/10"), std::string::npos);

  // The printed suggestion is in the copy; everything else of the config is unchanged.
  const std::string key = "suggested lr: ";
  const auto at = r.out.find(key);
  ASSERT_NE(at, std::string::npos) << r.out;
  const double suggested = std::stod(r.out.substr(at + key.size()));
  EXPECT_GT(suggested, 1e-7);
  EXPECT_LT(suggested, 10.0);
  const std::string copy = read_file(dir / "applied.toml");
  EXPECT_NE(copy.find("# plain SGD"), std::string::npos) << copy;
  descent::Config applied = descent::load_config((dir / "applied.toml").string());
  descent::Config original = descent::load_config(cfg.string());
  EXPECT_EQ(applied.optimizer.get_double("lr"), suggested);
  EXPECT_EQ(applied.optimizer.get_double("momentum"), 0.9);
  EXPECT_EQ(applied.train.epochs, original.train.epochs);
  EXPECT_EQ(applied.model.layers.size(), original.model.layers.size());
  // The suggestion lies on the curve: within 3 significant digits of one of its lrs.
  bool on_curve = false;
  for (const auto& row : c.rows) on_curve |= std::abs(row[1] - suggested) <= 5e-3 * row[1];
  EXPECT_TRUE(on_curve);

  // With --set, the copy is the resolved config (overrides included) plus the lr.
  r = run("lr-find " + cfg.string() + " --steps 60 --out lf2 --set train.epochs=5 --apply applied2.toml", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  descent::Config applied2 = descent::load_config((dir / "applied2.toml").string());
  EXPECT_EQ(applied2.train.epochs, 5);
  EXPECT_EQ(applied2.optimizer.get_double("lr"), suggested) << "same data, same seed, same curve";

  // The copy must not replace the config itself.
  r = run("lr-find " + cfg.string() + " --steps 20 --out lf3 --apply " + cfg.string(), dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--apply"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(cfg), tiny_config("", "type = \"sgd\"  # plain SGD\nlr = 0.1\nmomentum = 0.9\n"));
}

TEST(LrFindCli, BadOptionsAreUserErrors) {
  auto dir = temp_dir("lr_find_bad");
  auto cfg = write_config(dir, tiny_config());
  RunResult r = run("lr-find " + cfg.string() + " --start 1 --end 0.1 --out lf", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("end lr"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "lf"));
}

// ---- train::lr_find in the library ------------------------------------------------------------

bool same_bits(const descent::Tensor& a, const descent::Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(),
                     static_cast<size_t>(a.numel()) * descent::dtype_size(a.dtype())) == 0;
}

descent::nn::NamedTensors copy_of(const descent::nn::NamedTensors& ts) {
  descent::nn::NamedTensors out;
  for (const auto& [name, t] : ts) out.emplace_back(name, t.detach().clone());
  return out;
}

void expect_same(const descent::nn::NamedTensors& a, const descent::nn::NamedTensors& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first) << what;
    EXPECT_TRUE(same_bits(a[i].second, b[i].second)) << what << " " << a[i].first;
  }
}

class LrFindLib : public ::testing::TestWithParam<const char*> {};

TEST_P(LrFindLib, RestoresWeightsAndOptimizerExactly) {
  auto dir = temp_dir(std::string("lib_") + GetParam());
  // SGD with momentum, so that both optimizers hold per-parameter state to restore.
  const std::string optimizer = std::string("type = \"") + GetParam() + "\"\nlr = 0.05\n" +
                                (std::string(GetParam()) == "sgd" ? "momentum = 0.9\n" : "");
  descent::Config cfg = descent::parse_config(tiny_config("", optimizer), (dir / "tiny.toml").string());
  descent::train::Trainer trainer(cfg, {.run_dir = "", .progress = false});
  trainer.fit();  // 6 steps: the optimizer now holds state (momentum, moments, step counts)
  auto& opt = trainer.optimizer();
  const auto weights = copy_of(trainer.model().state_dict());
  const auto state = copy_of(opt.state());
  const int64_t steps = opt.step_count();
  ASSERT_EQ(steps, 6);
  ASSERT_FALSE(state.empty());

  trainer.model().eval();  // the test trains in training mode and must hand back the mode it found
  descent::train::LrFindResult r = descent::train::lr_find(trainer, {.start_lr = 1e-5, .end_lr = 1.0, .steps = 40});
  ASSERT_GE(r.lr.size(), 10u);
  EXPECT_TRUE(r.lr.size() == 40u || r.diverged);
  expect_same(weights, trainer.model().state_dict(), "weights");
  expect_same(state, opt.state(), "optimizer state");
  EXPECT_EQ(opt.step_count(), steps);
  EXPECT_EQ(opt.lr(), 0.05);
  for (const auto& g : opt.groups()) EXPECT_EQ(g.lr, 0.05);
  EXPECT_FALSE(trainer.model().is_training());
}

INSTANTIATE_TEST_SUITE_P(Optimizers, LrFindLib, ::testing::Values("sgd", "adam"));

TEST(LrFindLib, TrainingAfterTheTestIsTrainingWithoutIt) {
  auto dir = temp_dir("lib_fit");
  descent::Config cfg = descent::parse_config(tiny_config(), (dir / "tiny.toml").string());
  descent::train::Trainer plain(cfg, {.run_dir = "", .progress = false});
  descent::train::Trainer probed(cfg, {.run_dir = "", .progress = false});
  descent::train::lr_find(probed, {.steps = 30});
  plain.fit();
  probed.fit();
  ASSERT_EQ(plain.history().size(), probed.history().size());
  for (size_t i = 0; i < plain.history().size(); ++i) {
    EXPECT_EQ(plain.history()[i].train_loss, probed.history()[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(plain.history()[i].test_loss, probed.history()[i].test_loss) << "epoch " << i + 1;
  }
}

TEST(LrFindLib, CurveAndSuggestionsFollowTheRules) {
  auto dir = temp_dir("lib_rules");
  descent::Config cfg = descent::parse_config(tiny_config(), (dir / "tiny.toml").string());
  descent::train::Trainer trainer(cfg, {.run_dir = "", .progress = false});
  const descent::train::LrFindOptions o{.start_lr = 1e-6, .end_lr = 10.0, .steps = 80, .smoothing = 0.9};
  descent::train::LrFindResult r = descent::train::lr_find(trainer, o);
  const size_t n = r.lr.size();
  ASSERT_GE(n, 10u);
  ASSERT_EQ(r.loss.size(), n);
  ASSERT_EQ(r.smoothed_loss.size(), n);
  // Bias-corrected EMA, recomputed from the raw losses.
  double avg = 0.0;
  for (size_t i = 0; i < n; ++i) {
    avg = 0.9 * avg + 0.1 * r.loss[i];
    EXPECT_NEAR(r.smoothed_loss[i], avg / (1 - std::pow(0.9, static_cast<double>(i + 1))), 1e-12) << i;
    EXPECT_NEAR(r.lr[i], 1e-6 * std::pow(1e7, static_cast<double>(i) / 79.0), 1e-9 * r.lr[i]) << i;
  }
  // Minimum, min/10, and the steepest forward difference per log lr on [steps/10, min_index).
  const auto min_it = std::min_element(r.smoothed_loss.begin(), r.smoothed_loss.end());
  EXPECT_EQ(r.min_index, min_it - r.smoothed_loss.begin());
  EXPECT_EQ(r.min_lr, r.lr[static_cast<size_t>(r.min_index)]);
  EXPECT_DOUBLE_EQ(r.min_lr_div10, r.min_lr / 10);
  int64_t steep = -1;
  double best = 0.0;
  for (int64_t i = 8; i < r.min_index; ++i) {
    const auto k = static_cast<size_t>(i);
    const double g = (r.smoothed_loss[k + 1] - r.smoothed_loss[k]) / std::log(r.lr[k + 1] / r.lr[k]);
    if (g < best) best = g, steep = i;
  }
  ASSERT_GE(steep, 0) << "the tiny net's loss falls somewhere on 1e-6..10";
  EXPECT_EQ(r.steepest_index, steep);
  EXPECT_EQ(r.steepest_lr, r.lr[static_cast<size_t>(steep)]);
  // Divergence rule: only the last point may exceed 4x the minimum so far.
  double running_min = INFINITY;
  for (size_t i = 0; i < n; ++i) {
    running_min = std::min(running_min, r.smoothed_loss[i]);
    if (i + 1 < n) {
      EXPECT_LE(r.smoothed_loss[i], 4 * running_min) << i;
    }
  }
  EXPECT_EQ(r.diverged, n < 80u);
}

TEST(LrFindLib, RejectsBadOptions) {
  auto dir = temp_dir("lib_bad");
  descent::Config cfg = descent::parse_config(tiny_config(), (dir / "tiny.toml").string());
  descent::train::Trainer trainer(cfg, {.run_dir = "", .progress = false});
  EXPECT_THROW(descent::train::lr_find(trainer, {.start_lr = 0.0}), descent::Error);
  EXPECT_THROW(descent::train::lr_find(trainer, {.start_lr = 1.0, .end_lr = 1.0}), descent::Error);
  EXPECT_THROW(descent::train::lr_find(trainer, {.steps = 3}), descent::Error);
  EXPECT_THROW(descent::train::lr_find(trainer, {.smoothing = 1.0}), descent::Error);
}

}  // namespace

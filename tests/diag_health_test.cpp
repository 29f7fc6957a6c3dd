// The training-health scenarios of the diag issue, each a config in tests/data/diag/ trained for a
// few dozen steps on the 8x8 "blobs" fixture: (a) saturated sigmoids, (b) lr 10 and the divergence
// guard, (c) all-zero init, (d) a healthy MLP with no verdict; plus the report of such a run.
//
// To add a scenario: a config in tests/data/diag/ (data paths relative to the repository root;
// load_diag makes them absolute) and a TEST asserting the verdict text and the metrics.jsonl keys.
#include <gtest/gtest.h>

#include <cmath>

#include "descent/descent.h"
#include "descent/diag.h"
#include "diag_test_util.h"

using namespace descent;
using namespace descent::diag_test;

namespace {

struct TrainRun {
  std::vector<nlohmann::json> metrics, verdicts, guards, samples;
  std::string error;  // what fit() threw ("" when it finished)
  std::string report;
};

TrainRun train_fixture(const std::string& config, const std::vector<std::string>& extra = {}) {
  TempDir dir("run_" + config);
  const fs::path run_dir = dir.path / "run";
  TrainRun r;
  {
    train::Trainer trainer(load_diag(config, extra), {.run_dir = run_dir.string(), .progress = false});
    try {
      trainer.fit();
    } catch (const Error& e) {
      r.error = e.what();
    }
  }
  r.metrics = read_jsonl(run_dir / "metrics.jsonl");
  for (auto& j : read_jsonl(run_dir / "health.jsonl")) {
    const std::string kind = j["kind"];
    if (kind == "verdict") r.verdicts.push_back(j);
    if (kind == "guard") r.guards.push_back(j);
    if (kind == "sample") r.samples.push_back(j);
  }
  r.report = read_file(run_dir / "report.html");
  return r;
}

std::vector<std::string> messages(const TrainRun& r, const std::string& rule) {
  std::vector<std::string> out;
  for (const auto& v : r.verdicts)
    if (v["rule"] == rule) out.push_back(v["message"]);
  return out;
}

}  // namespace

TEST(Scenario, SigmoidWithNormalStd5InitSaturates) {
  TrainRun r = train_fixture("sigmoid_saturated.toml");
  ASSERT_EQ(r.error, "");
  const std::vector<std::string> sat = messages(r, "saturated");
  ASSERT_GE(sat.size(), 1u);
  // Both sigmoid layers saturate; the message names the layer, the fraction and the advice.
  EXPECT_EQ(sat[0].rfind("layer 1 (sigmoid): ", 0), 0u) << sat[0];
  EXPECT_NE(sat[0].find("% saturated — use xavier init or batch norm"), std::string::npos) << sat[0];
  for (const auto& v : r.verdicts) {
    if (v["rule"] == "saturated") { EXPECT_GT(v["value"].get<double>(), 0.5); }
  }
  ASSERT_EQ(r.metrics.size(), 3u);
  EXPECT_EQ(r.metrics[0]["health"], "saturated");
  // The per-step samples carry the fraction that fired.
  EXPECT_GT(r.samples.front()["layers"][1]["saturated"].get<double>(), 0.5);
  EXPECT_NE(r.report.find(sat[0].substr(0, 20)), std::string::npos);
}

TEST(Scenario, ReluWithLr10DivergesAndTheGuardRecovers) {
  TrainRun r = train_fixture("relu_lr10.toml");
  ASSERT_EQ(r.error, "") << "the guard gave up";
  ASSERT_GE(r.guards.size(), 1u);
  // First rollback: to the state before the first step, lr 10 -> 5.
  EXPECT_EQ(r.guards[0]["action"], "rollback");
  EXPECT_EQ(r.guards[0]["restored_step"], 0);
  EXPECT_DOUBLE_EQ(r.guards[0]["lr_before"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(r.guards[0]["lr"].get<double>(), 5.0);
  const std::vector<std::string> div = messages(r, "divergence"), dead = messages(r, "dead");
  ASSERT_TRUE(!div.empty() || !dead.empty());
  if (!div.empty()) {
    EXPECT_EQ(div[0].rfind("divergence at step ", 0), 0u) << div[0];
    EXPECT_NE(div[0].find("rolled back to step 0, lr 10 → 5 (retry 1 of 8); the learning rate is too high"),
              std::string::npos) << div[0];
  }
  // Every rollback is in metrics.jsonl too, and training recovered: the last epoch learned.
  size_t logged = 0;
  for (const auto& m : r.metrics) logged += m["guard_events"].size();
  EXPECT_EQ(logged, r.guards.size());
  // lr 2.5 no longer blows the loss up but kills the ReLUs: the guard answers that too, rolling
  // back to a state the monitor saw alive.
  bool died = false;
  for (const auto& g : r.guards) died = died || g["reason"].get<std::string>().find("% of units died") != std::string::npos;
  EXPECT_TRUE(died);
  ASSERT_EQ(r.metrics.size(), 8u);
  const auto& last = r.metrics.back();
  EXPECT_LT(last["train_loss"].get<double>(), 1.0);
  EXPECT_GT(last["test_acc"].get<double>(), 0.8);
  EXPECT_LT(last["lr"].get<double>(), 10.0);
  EXPECT_NE(r.report.find("rollback"), std::string::npos);
}

TEST(Scenario, ReluWithLr10AndNoRetriesGivesUpWithAClearMessage) {
  TrainRun r = train_fixture("relu_lr10.toml", {"health.guard_retries=0"});
  EXPECT_EQ(r.error.rfind("diverged at step ", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("gave up after 0 rollbacks (lr 10 → 10) — lower [optimizer] lr"), std::string::npos) << r.error;
  ASSERT_EQ(r.metrics.size(), 1u);  // the epoch line is written with the verdict descent tune prunes on
  EXPECT_EQ(r.metrics[0]["health"], "diverged");
  EXPECT_EQ(r.metrics[0]["guard_events"][0]["action"], "gave_up");
  EXPECT_NE(r.report.find("failed"), std::string::npos);
}

TEST(Scenario, AllZeroInitGivesTheZeroGradientVerdict) {
  TrainRun r = train_fixture("zero_init.toml");
  ASSERT_EQ(r.error, "");
  const std::vector<std::string> zero = messages(r, "zero_gradient");
  ASSERT_GE(zero.size(), 1u);
  EXPECT_EQ(zero[0],
            "zero gradient: all weights of layer 2 (linear) are zero — the layers below it get no gradient; "
            "initialize with xavier or kaiming, not zeros");
  EXPECT_EQ(r.metrics[0]["health"], "dead");
  EXPECT_EQ(r.samples.front()["layers"][0]["grad_norm"].get<double>(), 0.0);
}

TEST(Scenario, HealthyMlpFiresNoVerdict) {
  TrainRun r = train_fixture("healthy.toml");
  ASSERT_EQ(r.error, "");
  for (const auto& v : r.verdicts) ADD_FAILURE() << v.dump();
  EXPECT_TRUE(r.guards.empty());
  ASSERT_EQ(r.metrics.size(), 3u);
  for (const auto& m : r.metrics) {
    EXPECT_EQ(m["health"], "ok");
    EXPECT_TRUE(m["guard_events"].empty());
  }
  EXPECT_GT(r.metrics.back()["test_acc"].get<double>(), 0.9);
  // Monitored every 2 steps (and at step 1) of 3 x 19 steps; all five layers in each sample.
  EXPECT_EQ(r.samples.size(), 1u + 57 / 2);
  for (const auto& s : r.samples) EXPECT_EQ(s["layers"].size(), 5u);
  const auto& l = r.samples.back()["layers"];
  EXPECT_GT(l[0]["grad_norm"].get<double>(), 0.0);
  EXPECT_GT(l[0]["update_ratio"].get<double>(), 1e-5);
  EXPECT_LT(l[0]["update_ratio"].get<double>(), 0.1);
  EXPECT_LT(l[1]["dead"].get<double>(), 0.5);
  EXPECT_NE(r.report.find("No verdict fired"), std::string::npos);
}

TEST(Scenario, MonitorOffStillGuards) {
  TrainRun r = train_fixture("healthy.toml", {"health.enabled=false", "train.epochs=1"});
  ASSERT_EQ(r.error, "");
  EXPECT_TRUE(r.samples.empty());
  EXPECT_EQ(r.metrics[0]["health"], "ok");
}

// dist in one process (label `unit`): the local communicator, shard arithmetic, each rank's
// share of the loss, the autograd grad-ready hook the buckets start from, the bucket layout, and a
// one-rank DataParallel step against a plain backward. Runs with two ranks are in
// dist_mpi_test.cpp (label `mpi`).
//
// To add a case: a TEST here when one process can show it, else one in dist_mpi_test.cpp.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "descent/descent.h"
#include "descent/dist.h"

using namespace descent;

namespace {

Args args(std::initializer_list<std::pair<std::string, ArgValue>> kv, const std::string& where = "t.toml: [loss]") {
  Args a(where);
  for (const auto& [k, v] : kv) a.set(k, v);
  return a;
}

std::shared_ptr<nn::Sequential> mlp(DType dtype, uint64_t seed) {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(5, 7, nn::LinearOptions{.dtype = dtype, .seed = seed}));
  net->push_back(std::make_shared<nn::Tanh>());
  net->push_back(std::make_shared<nn::Linear>(7, 3, nn::LinearOptions{.dtype = dtype, .seed = seed + 1}));
  return net;
}

}  // namespace

TEST(Dist, LocalCommunicatorIsRankZeroOfOne) {
  auto comm = dist::local();
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->size(), 1);
  Tensor t = from_vector({1.5, -2.0, 3.25}, {3}, DType::F32);
  comm->allreduce(t, dist::ReduceOp::Sum);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1.5, -2.0, 3.25}));
  comm->allreduce(t, dist::ReduceOp::Mean);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1.5, -2.0, 3.25}));
  EXPECT_EQ(comm->allreduce(4.5, dist::ReduceOp::Max), 4.5);
  EXPECT_EQ(comm->allgather(42u), (std::vector<uint64_t>{42u}));
  Tensor i = arange(3);
  EXPECT_THROW(comm->allreduce(i, dist::ReduceOp::Mean), Error);
  EXPECT_THROW(comm->iallreduce(t.raw_data(), 3, DType::F32, dist::ReduceOp::Mean), Error);
  EXPECT_TRUE(comm->iallreduce(t.raw_data(), 3, DType::F32, dist::ReduceOp::Sum)->test());
  std::string s = "kept";
  comm->broadcast(s, 0);
  EXPECT_EQ(s, "kept");
  // Without a launcher the world is this process alone, MPI build or not.
  EXPECT_EQ(dist::world().size(), 1);
}

TEST(Dist, ShardsAreContiguousDisjointAndBalanced) {
  for (int64_t n = 0; n <= 23; ++n)
    for (int p = 1; p <= 5; ++p) {
      int64_t next = 0;
      for (int r = 0; r < p; ++r) {
        auto [b, e] = dist::shard_range(n, r, p);
        EXPECT_EQ(b, next) << n << " " << p << " " << r;
        EXPECT_GE(e - b, n / p);
        EXPECT_LE(e - b, n / p + 1);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
}

TEST(Dist, SliceBatchCopiesTheRows) {
  data::Batch b{.x = arange(0.0, 12.0, 1.0, DType::F64).reshape({4, 3}), .y = arange(4)};
  data::Batch s = dist::slice_batch(b, 1, 3);
  EXPECT_EQ(s.x.shape(), (Shape{2, 3}));
  EXPECT_EQ(s.x.to_vector(), (std::vector<double>{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(s.y.to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(dist::slice_batch(b, 2, 2).x.shape(), (Shape{0, 3}));
}

TEST(Dist, ShardWeightIsTheShardsPartOfTheLossNormalizer) {
  auto net = mlp(DType::F64, 1);
  Tensor y = from_vector({0, 2, 2, 1, 0}, {5}, DType::I64);
  dist::DataParallel mean(dist::local(), *net, args({{"type", std::string("cross_entropy")}}));
  EXPECT_DOUBLE_EQ(mean.shard_weight(y, 0, 2), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(mean.shard_weight(y, 2, 5), 3.0 / 5.0);
  dist::DataParallel sum(dist::local(), *net, args({{"type", std::string("mse")}, {"reduction", std::string("sum")}}));
  EXPECT_EQ(sum.shard_weight(y, 0, 2), 1.0);
  // torch's weighted mean divides by Σ w[y]: w = [1, 2, 4] gives 1+4+4+2+1 = 12, the first two rows 1+4
  dist::DataParallel weighted(dist::local(), *net,
                              args({{"type", std::string("cross_entropy")}, {"weight", std::vector<double>{1, 2, 4}}}));
  EXPECT_DOUBLE_EQ(weighted.shard_weight(y, 0, 2), 5.0 / 12.0);
  EXPECT_DOUBLE_EQ(weighted.shard_weight(y, 2, 5), 7.0 / 12.0);
}

TEST(Dist, GradReadyHookFiresOncePerLeafWithTheFinalGradient) {
  Tensor w = from_vector({1.0, 2.0}, {2}, DType::F64).requires_grad_();
  Tensor b = from_vector({0.5, 0.5}, {2}, DType::F64).requires_grad_();
  std::vector<std::pair<const void*, std::vector<double>>> seen;
  GradReadyHook previous = set_grad_ready_hook([&](const Tensor& leaf) {
    seen.emplace_back(leaf.impl().get(), leaf.grad().to_vector());
  });
  // w reaches the loss along three edges: its gradient is final only after the last one
  Tensor l = ops::sum(w * w + w * b + ops::exp(w));
  l.backward();
  set_grad_ready_hook(std::move(previous));
  ASSERT_EQ(seen.size(), 2u);
  std::set<const void*> leaves{seen[0].first, seen[1].first};
  EXPECT_EQ(leaves, (std::set<const void*>{w.impl().get(), b.impl().get()}));
  for (const auto& [leaf, g] : seen) {
    const std::vector<double> final = leaf == w.impl().get() ? w.grad().to_vector() : b.grad().to_vector();
    EXPECT_EQ(g, final);  // the value the hook saw is the value backward ends with
  }
  EXPECT_NEAR(w.grad().to_vector()[0], 2 * 1.0 + 0.5 + std::exp(1.0), 1e-12);
  // the hook is gone: another backward reports nothing
  seen.clear();
  ops::sum(w * b).backward();
  EXPECT_TRUE(seen.empty());
}

TEST(Dist, BucketsRunFromTheLastLayerAndRespectTheCap) {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Linear>(256, 256));  // 0.weight: 256 KiB, 0.bias 1 KiB
  net->push_back(std::make_shared<nn::Linear>(256, 64));   // 1.weight: 64 KiB
  net->push_back(std::make_shared<nn::Linear>(64, 10));
  // parameters(): 0.w 0.b 1.w 1.b 2.w 2.b = indices 0..5
  dist::DataParallel dp(dist::local(), *net, args({}), {.bucket_mb = 0.1});
  const auto& b = dp.buckets();
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0], (std::vector<size_t>{5, 4, 3, 2, 1}));  // 2.b 2.w 1.b 1.w 0.b: 68.6 KiB <= 102.4 KiB
  EXPECT_EQ(b[1], (std::vector<size_t>{0}));              // 0.weight alone exceeds the cap
  dist::DataParallel one(dist::local(), *net, args({}), {.bucket_mb = 64});
  EXPECT_EQ(one.buckets().size(), 1u);
}

TEST(Dist, OneRankStepEqualsPlainBackward) {
  Generator gen(3);
  data::Batch batch{.x = normal({6, 5}, 0.0, 1.0, gen, DType::F64), .y = from_vector({0, 1, 2, 2, 1, 0}, {6}, DType::I64)};
  auto a = mlp(DType::F64, 11), b = mlp(DType::F64, 11);
  auto ce = loss::make_loss(args({{"type", std::string("cross_entropy")}}));
  Tensor l = (*ce)(b->forward(batch.x), batch.y);
  l.backward();
  dist::DataParallel dp(dist::local(), *a, args({{"type", std::string("cross_entropy")}}), {.bucket_mb = 1e-4});
  ASSERT_GT(dp.buckets().size(), 2u);  // several buckets, started from the hook
  dist::StepStats st = dp.step(batch, [&](const data::Batch& part) {
    return dist::ShardOutput{.loss = (*ce)(a->forward(part.x), part.y), .correct = 4};
  });
  EXPECT_EQ(st.loss, l.item());
  EXPECT_EQ(dp.buckets_started_during_backward(), dp.buckets().size());  // none waited for finish()
  EXPECT_EQ(st.correct, 4);
  EXPECT_EQ(st.samples, 6);
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].grad().to_vector(), pb[i].grad().to_vector()) << i;
}

TEST(Dist, SharedTermJoinsTheOneRankLossOnce) {
  Generator gen(4);
  data::Batch batch{.x = normal({4, 5}, 0.0, 1.0, gen, DType::F64), .y = from_vector({0, 1, 2, 1}, {4}, DType::I64)};
  auto a = mlp(DType::F64, 21), b = mlp(DType::F64, 21);
  auto ce = loss::make_loss(args({{"type", std::string("cross_entropy")}}));
  auto penalty = [](nn::Module& m) { return ops::sum(m.parameters()[0] * m.parameters()[0]) * 0.01; };
  Tensor l = (*ce)(b->forward(batch.x), batch.y);
  (l + penalty(*b)).backward();
  dist::DataParallel dp(dist::local(), *a, args({{"type", std::string("cross_entropy")}}));
  dist::StepStats st = dp.step(batch, [&](const data::Batch& part) {
    return dist::ShardOutput{.loss = (*ce)(a->forward(part.x), part.y), .shared = penalty(*a)};
  });
  EXPECT_EQ(st.loss, l.item());  // the data loss; the penalty is reported on its own
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i].grad().to_vector(), pb[i].grad().to_vector()) << i;
}

TEST(Dist, DistributedSectionIsChecked) {
  Args ok("t.toml: [distributed]");
  ok.set("bucket_mb", 2.5);
  ok.set("sync_batchnorm", true);
  dist::DistributedOptions o = dist::parse_distributed(ok);
  EXPECT_EQ(o.bucket_mb, 2.5);
  EXPECT_TRUE(o.sync_batchnorm);
  EXPECT_TRUE(o.overlap);
  Args bad("t.toml: [distributed]");
  bad.set("bucket_mb", 0.0);
  try {
    dist::parse_distributed(bad);
    FAIL() << "bucket_mb = 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.toml: [distributed]: bucket_mb must be positive"), std::string::npos) << e.what();
  }
  Args typo("t.toml: [distributed]");
  typo.set("bucket_mbs", 1.0);
  dist::parse_distributed(typo);
  EXPECT_THROW(typo.finish(), Error);
}

TEST(Dist, AgreeInOneProcessPassesTheErrorThrough) {
  auto comm = dist::local();
  int calls = 0;
  dist::agree(*comm, [&] { ++calls; });
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(dist::agree(*comm, [] { throw Error("bad key"); }), Error);
  dist::check_same(*comm, "anything", "the config");  // one rank agrees with itself
}

TEST(Dist, VersionSaysWhetherMpiIsBuilt) {
  std::string out = ::testing::TempDir() + "descent_dist_version.txt";
  int status = std::system((std::string(DESCENT_CLI) + " --version > " + out).c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find(dist::mpi_built() ? "(MPI: on)" : "(MPI: off)"), std::string::npos) << text.str();
  std::remove(out.c_str());
}

// A descent built without MPI and started by a launcher as several processes refuses to run (each
// would train alone into the same run directory). Only a build without MPI can run this: with MPI
// the launcher variables below would make MPI_Init look for a launcher that is not there.
TEST(Dist, WithoutMpiSeveralLaunchedProcessesAreRefused) {
  if (dist::mpi_built()) GTEST_SKIP() << "descent is built with MPI; the check is for DESCENT_USE_MPI=OFF builds";
  const std::string err = ::testing::TempDir() + "descent_dist_no_mpi.txt";
  const std::string dir = ::testing::TempDir() + "descent_dist_no_mpi_run";
  int status = std::system(("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 " + std::string(DESCENT_CLI) +
                            " train " + DESCENT_SOURCE_DIR + "/examples/xor.toml --out " + dir + " 2> " + err)
                               .c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream in(err);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("started as one of 2 processes by an MPI launcher, but this descent was built without MPI"),
            std::string::npos)
      << text.str();
  EXPECT_FALSE(std::ifstream(dir + "/metrics.jsonl").good()) << "nothing may have been written";
  std::remove(err.c_str());
}

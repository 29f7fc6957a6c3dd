// Tests of descent/tensor.h: dtypes, creation, the random generator, element access, reshape,
// in-place updates, conversions, printing, misuse errors and the caching allocator.
//
// To add a case: add a TEST to the suite of its family (Dtype, Creation, Random, Access, ...).
// Expected values come from the definition (a formula or a loop written here in double), never
// from descent's own output; misuse cases assert the descent::Error and a part of its message
// with EXPECT_ERROR_HAS.
#include <gtest/gtest.h>

#include "error_test_util.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <sstream>

#include "descent/ops.h"
#include "descent/tensor.h"
#include "tensor/allocator.h"

using namespace descent;

namespace {

// The message of the descent::Error that f throws ("<no error>" when it throws none).
const DType kAllDtypes[] = {DType::F32, DType::F64, DType::I64, DType::U8};

// ---- dtypes and shapes -----------------------------------------------------------------------

TEST(Dtype, names_sizes_and_floating) {
  EXPECT_STREQ(dtype_name(DType::F32), "float32");
  EXPECT_STREQ(dtype_name(DType::F64), "float64");
  EXPECT_STREQ(dtype_name(DType::I64), "int64");
  EXPECT_STREQ(dtype_name(DType::U8), "uint8");
  EXPECT_EQ(dtype_size(DType::F32), sizeof(float));
  EXPECT_EQ(dtype_size(DType::F64), sizeof(double));
  EXPECT_EQ(dtype_size(DType::I64), sizeof(int64_t));
  EXPECT_EQ(dtype_size(DType::U8), sizeof(uint8_t));
  EXPECT_TRUE(is_floating(DType::F32));
  EXPECT_TRUE(is_floating(DType::F64));
  EXPECT_FALSE(is_floating(DType::I64));
  EXPECT_FALSE(is_floating(DType::U8));
}

TEST(Dtype, parse_round_trips_and_aliases) {
  for (DType d : kAllDtypes) EXPECT_EQ(dtype_from_name(dtype_name(d)), d);
  EXPECT_EQ(dtype_from_name("f32"), DType::F32);
  EXPECT_EQ(dtype_from_name("f64"), DType::F64);
  EXPECT_EQ(dtype_from_name("double"), DType::F64);
}

TEST(Dtype, parse_error_names_the_input_and_the_choices) {
  EXPECT_THROW(dtype_from_name("float16"), Error);
  EXPECT_ERROR_HAS(dtype_from_name("float16"), "'float16'");
  EXPECT_ERROR_HAS(dtype_from_name("Float32"), "float32, float64, int64 or uint8");
  EXPECT_THROW(dtype_from_name(""), Error);
}

TEST(Shape, str_and_numel) {
  EXPECT_EQ(shape_str({2, 3}), "[2, 3]");
  EXPECT_EQ(shape_str({}), "[]");
  EXPECT_EQ(shape_numel({}), 1);  // a 0-d tensor holds one element
  EXPECT_EQ(shape_numel({2, 3, 4}), 24);
  EXPECT_EQ(shape_numel({2, 0, 4}), 0);
  EXPECT_ERROR_HAS(shape_numel({2, -3}), "[2, -3]");
}

// ---- creation --------------------------------------------------------------------------------

TEST(Creation, zeros_ones_full_every_dtype) {
  for (DType d : kAllDtypes) {
    SCOPED_TRACE(dtype_name(d));
    Tensor z = zeros({2, 3}, d), o = ones({2, 3}, d), f = full({4}, 7.0, d);
    EXPECT_EQ(z.dtype(), d);
    EXPECT_EQ(z.shape(), (Shape{2, 3}));
    EXPECT_EQ(z.numel(), 6);
    EXPECT_EQ(z.dim(), 2);
    EXPECT_EQ(z.to_vector(), std::vector<double>(6, 0.0));
    EXPECT_EQ(o.to_vector(), std::vector<double>(6, 1.0));
    EXPECT_EQ(f.to_vector(), std::vector<double>(4, 7.0));
  }
  EXPECT_EQ(zeros({3}).dtype(), DType::F32);  // float32 unless asked otherwise
}

TEST(Creation, scalar_and_zeros_like) {
  Tensor s = scalar(2.5, DType::F64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.shape_str(), "[]");
  EXPECT_EQ(s.item(), 2.5);
  Tensor src = full({3, 2}, 4.0, DType::I64);
  Tensor z = zeros_like(src);
  EXPECT_EQ(z.shape(), src.shape());
  EXPECT_EQ(z.dtype(), DType::I64);
  EXPECT_EQ(z.to_vector(), std::vector<double>(6, 0.0));
  EXPECT_FALSE(z.is_same(src));
}

TEST(Creation, empty_tensor_with_a_zero_extent) {
  Tensor t = zeros({0, 5});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_TRUE(t.to_vector().empty());
}

TEST(Creation, arange_float_steps) {
  Tensor a = arange(0.0, 5.0);
  EXPECT_EQ(a.dtype(), DType::F32);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1.0, 2.0, 0.25, DType::F64).to_vector(), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  // A step that does not divide the span: the last value stays below end.
  EXPECT_EQ(arange(0.0, 1.0, 0.3, DType::F64).numel(), 4);
  EXPECT_EQ(arange(3.0, 0.0, -1.0, DType::F64).to_vector(), (std::vector<double>{3, 2, 1}));
  EXPECT_EQ(arange(2.0, 1.0).numel(), 0);  // end before start with a positive step
  EXPECT_ERROR_HAS(arange(0.0, 1.0, 0.0), "step");
}

TEST(Creation, arange_count_is_int64) {
  Tensor a = arange(int64_t{5});
  EXPECT_EQ(a.dtype(), DType::I64);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(int64_t{3}, DType::F64).to_vector(), (std::vector<double>{0, 1, 2}));
}

TEST(Creation, from_vector_every_dtype) {
  const std::vector<double> v = {0, 1, 2, 250, 5, 6};
  for (DType d : kAllDtypes) {
    SCOPED_TRACE(dtype_name(d));
    Tensor t = from_vector(v, {2, 3}, d);
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(t.to_vector(), v);
  }
  // Conversion to the dtype happens on the way in.
  EXPECT_EQ(from_vector({0.1}, {1}).item(), static_cast<double>(0.1f));
  EXPECT_EQ(from_vector({-2.7}, {1}, DType::I64).item(), -2.0);
  EXPECT_ERROR_HAS(from_vector({1, 2, 3}, {2, 2}), "[2, 2]");
}

// ---- the random generator -------------------------------------------------------------------

// Reference xoshiro256** seeded through splitmix64 (Blackman & Vigna), written from the paper so
// the stream is checked against the documented algorithm, not against itself.
struct ReferenceXoshiro {
  uint64_t s[4];
  explicit ReferenceXoshiro(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s) {
      x += 0x9e3779b97f4a7c15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  static uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
};

TEST(Random, generator_is_xoshiro256starstar) {
  for (uint64_t seed : {0ULL, 1ULL, 42ULL, 0xdeadbeefULL}) {
    Generator g(seed);
    ReferenceXoshiro ref(seed);
    for (int i = 0; i < 100; ++i) ASSERT_EQ(g.next_u64(), ref.next()) << "seed " << seed << " draw " << i;
  }
}

TEST(Random, uniform_uses_the_top_53_bits) {
  Generator g(7);
  ReferenceXoshiro ref(7);
  for (int i = 0; i < 100; ++i) {
    double u = g.uniform();
    EXPECT_EQ(u, std::ldexp(static_cast<double>(ref.next() >> 11), -53));
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(Random, below_stays_in_range_and_covers_it) {
  Generator g(3);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 7000; ++i) {
    uint64_t v = g.below(7);
    ASSERT_LT(v, 7u);
    counts[v]++;
  }
  for (int c : counts) EXPECT_NEAR(c, 1000, 150);  // ~5 sigma of a binomial(7000, 1/7)
  EXPECT_THROW(g.below(0), Error);
}

TEST(Random, state_restore_gives_the_same_continuation) {
  Generator g(11);
  for (int i = 0; i < 5; ++i) g.next_u64();
  g.normal();  // leaves a cached second Box-Muller value: the state must carry it
  const std::vector<uint64_t> saved = g.state();
  std::vector<double> first;
  for (int i = 0; i < 7; ++i) first.push_back(g.normal());
  for (int i = 0; i < 7; ++i) first.push_back(g.uniform());
  first.push_back(static_cast<double>(g.next_u64() >> 11));

  Generator h(999);  // a different stream, overwritten by the saved state
  h.set_state(saved);
  std::vector<double> second;
  for (int i = 0; i < 7; ++i) second.push_back(h.normal());
  for (int i = 0; i < 7; ++i) second.push_back(h.uniform());
  second.push_back(static_cast<double>(h.next_u64() >> 11));
  EXPECT_EQ(first, second);

  // A generator copied by value continues identically too.
  Generator a(5), b = a;
  EXPECT_EQ(a.normal(), b.normal());
  EXPECT_EQ(a.normal(), b.normal());
}

TEST(Random, set_state_rejects_a_wrong_length) {
  Generator g(0);
  EXPECT_ERROR_HAS(g.set_state({1, 2, 3}), "6 words");
}

TEST(Random, same_seed_same_tensors_different_seed_different) {
  for (DType d : {DType::F32, DType::F64}) {
    SCOPED_TRACE(dtype_name(d));
    Generator g1(123), g2(123), g3(124);
    auto u1 = uniform({50}, -2, 3, g1, d).to_vector(), u2 = uniform({50}, -2, 3, g2, d).to_vector();
    auto n1 = normal({51}, 1, 2, g1, d).to_vector(), n2 = normal({51}, 1, 2, g2, d).to_vector();
    EXPECT_EQ(u1, u2);
    EXPECT_EQ(n1, n2);
    EXPECT_NE(uniform({50}, -2, 3, g3, d).to_vector(), u1);
  }
}

TEST(Random, uniform_tensor_range_and_moments) {
  Generator g(2024);
  const int64_t n = 200000;
  const double lo = -3.0, hi = 5.0;
  for (DType d : {DType::F32, DType::F64}) {
    SCOPED_TRACE(dtype_name(d));
    auto v = uniform({n}, lo, hi, g, d).to_vector();
    double s = 0, s2 = 0;
    for (double x : v) {
      ASSERT_GE(x, lo);
      ASSERT_LT(x, hi);
      s += x;
      s2 += x * x;
    }
    const double mean = s / n, var = s2 / n - mean * mean;
    const double w = hi - lo;
    EXPECT_NEAR(mean, (lo + hi) / 2, 5 * w / std::sqrt(12.0 * n));  // 5 standard errors
    EXPECT_NEAR(var, w * w / 12, 0.02 * w * w / 12);
  }
}

// A range one float ulp wide: low + (high - low) * u rounds to `high` for half of the draws
// unless the generator guards the open end. In a normal range the same rounding happens with
// probability ~2^-25 per float32 draw — rare, but it breaks the documented [low, high).
TEST(Random, uniform_never_returns_high) {
  Generator g(1);
  const double lo = 1.0, hi_f = std::nextafter(1.0f, 2.0f), hi_d = std::nextafter(1.0, 2.0);
  for (double x : uniform({1000}, lo, hi_f, g, DType::F32).to_vector()) ASSERT_LT(x, hi_f);
  for (double x : uniform({1000}, lo, hi_d, g, DType::F64).to_vector()) ASSERT_LT(x, hi_d);
}

TEST(Random, normal_tensor_moments) {
  Generator g(77);
  const int64_t n = 200000;
  const double mu = 1.5, sigma = 2.0;
  for (DType d : {DType::F32, DType::F64}) {
    SCOPED_TRACE(dtype_name(d));
    auto v = normal({n}, mu, sigma, g, d).to_vector();
    double s = 0, s2 = 0, s4 = 0;
    int64_t within_1sd = 0;
    for (double x : v) {
      ASSERT_TRUE(std::isfinite(x));
      s += x;
      s2 += (x - mu) * (x - mu);
      s4 += std::pow((x - mu) / sigma, 4);
      within_1sd += std::abs(x - mu) < sigma;
    }
    const double mean = s / n, sd = std::sqrt(s2 / n);
    EXPECT_NEAR(mean, mu, 5 * sigma / std::sqrt(double(n)));
    EXPECT_NEAR(sd, sigma, 0.01 * sigma);
    EXPECT_NEAR(s4 / n, 3.0, 0.1);                          // kurtosis of a normal
    EXPECT_NEAR(double(within_1sd) / n, 0.682689, 0.006);  // P(|Z| < 1)
  }
}

TEST(Random, integer_dtypes_are_rejected) {
  Generator g(0);
  EXPECT_ERROR_HAS(uniform({3}, 0, 1, g, DType::I64), "int64");
  EXPECT_ERROR_HAS(normal({3}, 0, 1, g, DType::U8), "uint8");
}

// ---- element access ----------------------------------------------------------------------------

TEST(Access, at_is_row_major) {
  std::vector<double> v(24);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 1.5 - 4;
  Tensor t = from_vector(v, {2, 3, 4}, DType::F64);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(t.at({i, j, k}), v[static_cast<size_t>((i * 3 + j) * 4 + k)]);
  EXPECT_EQ(scalar(3.0).at({}), 3.0);
}

TEST(Access, at_errors_name_the_index_and_shape) {
  Tensor t = zeros({2, 3});
  EXPECT_ERROR_HAS(t.at({2, 0}), "out of range");
  EXPECT_ERROR_HAS(t.at({0, 3}), "[2, 3]");
  EXPECT_ERROR_HAS(t.at({0, -1}), "out of range");
  EXPECT_ERROR_HAS(t.at({0}), "1 dims");
  EXPECT_ERROR_HAS(t.at({0, 0, 0}), "3 dims");
}

TEST(Access, item_needs_exactly_one_element) {
  EXPECT_EQ(full({1, 1}, -4.0, DType::I64).item(), -4.0);
  EXPECT_EQ(scalar(0.25, DType::F64).item(), 0.25);
  EXPECT_ERROR_HAS(zeros({2}).item(), "[2]");
  EXPECT_ERROR_HAS(zeros({2, 3}).item(), "6 elements");
  EXPECT_THROW(zeros({0}).item(), Error);
}

TEST(Access, data_pointer_checks_the_type) {
  Tensor t = from_vector({1, 2, 3}, {3}, DType::F64);
  double* p = t.data<double>();
  EXPECT_EQ(p[0], 1.0);
  EXPECT_EQ(p[2], 3.0);
  p[1] = 42.0;  // the pointer writes into the tensor
  EXPECT_EQ(t.at({1}), 42.0);
  const Tensor& c = t;
  EXPECT_EQ(c.data<double>()[1], 42.0);
  EXPECT_EQ(t.raw_data(), static_cast<void*>(p));
  EXPECT_ERROR_HAS(t.data<float>(), "float64");
  EXPECT_THROW(t.data<int64_t>(), Error);
  EXPECT_THROW(c.data<uint8_t>(), Error);
  EXPECT_NO_THROW(zeros({2}, DType::U8).data<uint8_t>());
}

TEST(Access, storage_is_64_byte_aligned) {
  for (int64_t n : {1, 3, 17, 1000, 100000}) {
    Tensor t = empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(Access, size_with_negative_dims) {
  Tensor t = zeros({2, 3, 4});
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(t.size(-3), 2);
  EXPECT_ERROR_HAS(t.size(3), "[2, 3, 4]");
  EXPECT_THROW(t.size(-4), Error);
}

TEST(Access, undefined_tensor_misuse_throws) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_ERROR_HAS(u.shape(), "undefined");
  EXPECT_THROW(u.numel(), Error);
  EXPECT_THROW(u.item(), Error);
  EXPECT_THROW(u.to_vector(), Error);
  EXPECT_EQ(u.str(), "Tensor(undefined)");
}

// ---- reshape and t() --------------------------------------------------------------------------

TEST(Reshape, keeps_row_major_order_and_infers_minus_one) {
  Tensor x = arange(0.0, 12.0, 1.0, DType::F64);
  Tensor a = x.reshape({3, 4});
  EXPECT_EQ(a.shape(), (Shape{3, 4}));
  EXPECT_EQ(a.at({1, 2}), 6.0);
  EXPECT_EQ(x.reshape({2, -1, 3}).shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(x.reshape({-1}).shape(), (Shape{12}));
  EXPECT_EQ(a.reshape({4, 3}).at({3, 0}), 9.0);
  EXPECT_EQ(x.reshape({12}).to_vector(), x.to_vector());
  EXPECT_EQ(scalar(5.0).reshape({1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(ones({1, 1}).reshape({}).dim(), 0);
}

TEST(Reshape, shares_storage) {
  Tensor x = zeros({2, 3}, DType::F64);
  Tensor r = x.reshape({6});
  r.data<double>()[4] = 9.0;
  EXPECT_EQ(x.at({1, 1}), 9.0);
}

TEST(Reshape, errors_name_the_shapes) {
  Tensor x = zeros({2, 3});
  EXPECT_ERROR_HAS(x.reshape({4, 2}), "[2, 3]");
  EXPECT_ERROR_HAS(x.reshape({4, 2}), "[4, 2]");
  EXPECT_ERROR_HAS(x.reshape({-1, -1}), "more than one -1");
  // -1 that cannot be inferred (6 is not a multiple of 4): the reshape error, naming both shapes.
  EXPECT_ERROR_HAS(x.reshape({-1, 4}), "reshape");
  EXPECT_ERROR_HAS(x.reshape({-1, 4}), "[2, 3]");
  EXPECT_THROW(x.reshape({-2, -3}), Error);
}

TEST(Transpose, t_of_a_matrix) {
  Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64);
  Tensor y = x.t();
  EXPECT_EQ(y.shape(), (Shape{3, 2}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) EXPECT_EQ(y.at({j, i}), x.at({i, j}));
  EXPECT_EQ(y.t().to_vector(), x.to_vector());
  EXPECT_ERROR_HAS(zeros({3}).t(), "2-d");
  EXPECT_THROW(zeros({2, 2, 2}).t(), Error);
}

// ---- in-place updates -----------------------------------------------------------------------

TEST(InPlace, fill_sets_every_element) {
  for (DType d : kAllDtypes) {
    Tensor t = zeros({3, 5}, d);
    t.fill_(3.0);
    EXPECT_EQ(t.to_vector(), std::vector<double>(15, 3.0)) << dtype_name(d);
  }
}

TEST(InPlace, copy_same_and_converting_dtypes) {
  Tensor src = from_vector({1.5, -2.5, 3.75, 250}, {2, 2}, DType::F64);
  Tensor d64 = zeros({4}, DType::F64);  // same numel, another shape: allowed
  d64.copy_(src);
  EXPECT_EQ(d64.to_vector(), src.to_vector());
  EXPECT_EQ(d64.shape(), (Shape{4}));

  Tensor i64 = zeros({4}, DType::I64);
  i64.copy_(src);
  EXPECT_EQ(i64.to_vector(), (std::vector<double>{1, -2, 3, 250}));  // truncation toward zero

  Tensor f32 = zeros({2, 2});
  f32.copy_(from_vector({0.1, 1e-3, 7, 8}, {4}, DType::F64));
  EXPECT_EQ(f32.at({0, 0}), static_cast<double>(0.1f));
  EXPECT_EQ(f32.at({0, 1}), static_cast<double>(1e-3f));

  Tensor u8 = zeros({4}, DType::U8);
  u8.copy_(from_vector({0, 7, 200, 255}, {4}, DType::I64));
  EXPECT_EQ(u8.to_vector(), (std::vector<double>{0, 7, 200, 255}));

  EXPECT_ERROR_HAS(zeros({3}).copy_(zeros({4})), "4 elements into 3");
}

TEST(InPlace, add_with_alpha) {
  for (DType d : {DType::F32, DType::F64}) {
    Tensor a = from_vector({1, 2, 3}, {3}, d), b = from_vector({10, 20, 30}, {3}, d);
    a.add_(b, 0.5);
    EXPECT_EQ(a.to_vector(), (std::vector<double>{6, 12, 18})) << dtype_name(d);
    a.add_(b);
    EXPECT_EQ(a.to_vector(), (std::vector<double>{16, 32, 48})) << dtype_name(d);
  }
}

TEST(InPlace, add_on_a_large_tensor_updates_every_element) {
  // Above the OpenMP threshold, so the parallel loop is the one under test.
  const int64_t n = 200003;
  std::vector<double> av(n), bv(n);
  for (int64_t i = 0; i < n; ++i) av[i] = double(i % 1000), bv[i] = double((i * 7) % 13);
  Tensor a = from_vector(av, {n}, DType::F64), b = from_vector(bv, {n}, DType::F64);
  a.add_(b, -2.0);
  auto r = a.to_vector();
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(r[i], av[i] - 2.0 * bv[i]) << i;
}

TEST(InPlace, add_rejects_mismatches) {
  EXPECT_ERROR_HAS(zeros({3}).add_(zeros({1})), "[1] into [3]");
  EXPECT_ERROR_HAS(zeros({3}).add_(zeros({3}, DType::F64)), "float64 into float32");
  EXPECT_ERROR_HAS(zeros({3}, DType::I64).add_(zeros({3}, DType::I64)), "int64");
}

TEST(InPlace, mul_scales) {
  Tensor a = from_vector({1, -2, 4}, {3}, DType::F64);
  a.mul_(-0.25);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{-0.25, 0.5, -1}));
  EXPECT_THROW(zeros({2}, DType::U8).mul_(2.0), Error);
}

TEST(InPlace, mutating_a_clone_leaves_the_original) {
  Tensor a = from_vector({1, 2}, {2}, DType::F64);
  Tensor c = a.clone();
  c.fill_(0.0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{1, 2}));
  EXPECT_NE(a.raw_data(), c.raw_data());
}

// ---- dtype conversion ---------------------------------------------------------------------------

TEST(Convert, to_between_every_pair) {
  // Values every dtype represents exactly, so every conversion must be exact.
  const std::vector<double> v = {0, 1, 2, 100, 255};
  for (DType from : kAllDtypes)
    for (DType to : kAllDtypes) {
      Tensor y = from_vector(v, {5}, from).to(to);
      EXPECT_EQ(y.dtype(), to);
      EXPECT_EQ(y.to_vector(), v) << dtype_name(from) << " -> " << dtype_name(to);
    }
}

TEST(Convert, rounding_and_truncation) {
  const std::vector<double> v = {0.1, -2.7, 1e10, 1.0 / 3.0};
  Tensor x = from_vector(v, {4}, DType::F64);
  auto f = x.to(DType::F32).to_vector();
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(f[i], static_cast<double>(static_cast<float>(v[i])));
  EXPECT_EQ(x.to(DType::I64).to_vector(), (std::vector<double>{0, -2, 1e10, 0}));
  // float32 -> float64 is exact.
  Tensor y = from_vector(v, {4}, DType::F32);
  EXPECT_EQ(y.to(DType::F64).to_vector(), y.to_vector());
}

TEST(Convert, to_own_dtype_is_the_same_tensor) {
  Tensor x = zeros({2}, DType::F64);
  EXPECT_TRUE(x.to(DType::F64).is_same(x));
  EXPECT_FALSE(x.to(DType::F32).is_same(x));
}

// ---- printing ---------------------------------------------------------------------------------

TEST(Print, str_shows_dtype_shape_and_values) {
  Tensor t = from_vector({1, 2.5, -3, 0.125}, {2, 2});
  std::string s = t.str();
  EXPECT_NE(s.find("float32"), std::string::npos) << s;
  EXPECT_NE(s.find("[2, 2]"), std::string::npos) << s;
  EXPECT_NE(s.find("1, 2.5, -3, 0.125"), std::string::npos) << s;
  EXPECT_EQ(s.find("requires_grad"), std::string::npos) << s;

  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), s);

  Tensor i = from_vector({7, -8}, {2}, DType::I64);
  EXPECT_NE(i.str().find("int64"), std::string::npos);
  EXPECT_NE(i.str().find("7, -8"), std::string::npos);
  EXPECT_NE(ones({1}, DType::F64).requires_grad_().str().find("requires_grad"), std::string::npos);
}

TEST(Print, long_tensors_are_cut) {
  Tensor t = arange(0.0, 1000.0, 1.0, DType::F64);
  std::string s = t.str();
  EXPECT_NE(s.find("..."), std::string::npos);
  EXPECT_NE(s.find("63"), std::string::npos);     // within the shown prefix
  EXPECT_EQ(s.find("999"), std::string::npos);    // far past it
  EXPECT_LT(s.size(), 1000u);
  EXPECT_EQ(arange(0.0, 3.0).str().find("..."), std::string::npos);
}

// ---- the caching allocator --------------------------------------------------------------------

// One "step" of the shapes a small MLP step allocates: several sizes, some alive at once.
void allocation_sequence() {
  std::vector<Tensor> alive;
  for (int64_t n : {128 * 784, 256 * 784, 128 * 256, 256, 128 * 10, 10, 1})
    alive.push_back(empty({n}));
  Tensor tmp = ones({128, 256}, DType::F64);
  alive.push_back(tmp.to(DType::F32));
  alive.clear();
  for (int64_t n : {7, 4096, 4097, 65536 + 3}) Tensor t = zeros({n});
}

TEST(Allocator, steady_state_makes_no_system_allocations) {
  allocation_sequence();  // warm-up fills the free lists
  const alloc::Stats before = alloc::stats();
  for (int i = 0; i < 5; ++i) allocation_sequence();
  const alloc::Stats after = alloc::stats();
  EXPECT_EQ(after.system_allocs, before.system_allocs);
  EXPECT_GT(after.cache_hits, before.cache_hits);
}

TEST(Allocator, freed_blocks_are_reused_and_counted) {
  alloc::empty_cache();
  EXPECT_EQ(alloc::stats().cached_bytes, 0u);
  const void* first = nullptr;
  {
    Tensor t = empty({1000}, DType::F64);
    first = t.raw_data();
  }
  EXPECT_GE(alloc::stats().cached_bytes, 8000u);  // the block went back to the cache
  const uint64_t sys = alloc::stats().system_allocs;
  Tensor u = empty({1000}, DType::F64);
  EXPECT_EQ(u.raw_data(), first);                 // the very same block, handed out again
  EXPECT_EQ(alloc::stats().system_allocs, sys);
  // Near-identical sizes share a size class.
  void* p = alloc::allocate(100000);
  alloc::release(p, 100000);
  void* q = alloc::allocate(100100);
  EXPECT_EQ(p, q);
  alloc::release(q, 100100);
}

TEST(Allocator, empty_cache_returns_everything) {
  { Tensor t = empty({5000}); }
  EXPECT_GT(alloc::stats().cached_bytes, 0u);
  alloc::empty_cache();
  EXPECT_EQ(alloc::stats().cached_bytes, 0u);
  const uint64_t sys = alloc::stats().system_allocs;
  Tensor t = empty({5000});  // nothing cached: a fresh block
  EXPECT_EQ(alloc::stats().system_allocs, sys + 1);
}

}  // namespace

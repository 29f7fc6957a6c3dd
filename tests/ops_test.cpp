// Forward values of every op in descent/ops.h against plain float64 reference loops written here,
// in float64 (tolerance 1e-12 relative) and float32 (1e-5), plus the misuse errors of each op.
// Gradients are checked in gradcheck_test.cpp; this file checks what the ops compute.
//
// Every op's output buffer is poisoned first (poison_cache fills the allocator's free blocks of the
// output's size with 0xFF bytes: NaN for floats, -1 / 255 for integers), so an element a kernel
// forgets to write fails the comparison at once.
//
// To add a case: an elementwise op gets a row in kUnaryCases() (the op, a double reference and an
// input domain); a binary shape pair goes into kBroadcastPairs; anything else gets a TEST in the
// suite of its family that builds inputs with random_tensor(), computes the expected values with
// a loop in double, and compares with expect_values().
#include <gtest/gtest.h>

#include "error_test_util.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

#include "descent/ops.h"
#include "kernels/gemm.h"

using namespace descent;
namespace ops = descent::ops;

namespace {

// ---- helpers ------------------------------------------------------------------------------------

struct Tol {
  double rtol, atol;
};
// float64 paths must agree with the double reference to rounding; float32 to a few ulps.
Tol tol_for(DType d) { return d == DType::F64 ? Tol{1e-12, 1e-14} : Tol{1e-5, 1e-6}; }

// Compares every element (shape first); reports the first few mismatches with their index.
void expect_values(const Tensor& t, const Shape& shape, const std::vector<double>& want, Tol tol) {
  ASSERT_TRUE(t.defined());
  ASSERT_EQ(t.shape(), shape);
  ASSERT_EQ(static_cast<size_t>(t.numel()), want.size());
  const std::vector<double> got = t.to_vector();
  int reported = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const bool ok = std::isnan(want[i]) ? std::isnan(got[i])
                                        : std::abs(got[i] - want[i]) <= tol.atol + tol.rtol * std::abs(want[i]);
    if (!ok && reported++ < 5) ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
  }
}

// Fills the next allocations of numel elements of dtype with 0xFF bytes (see the header).
void poison_cache(int64_t numel, DType dtype) {
  std::vector<Tensor> blocks;
  for (int i = 0; i < 8; ++i) {
    blocks.push_back(empty({numel}, dtype));
    std::memset(blocks.back().raw_data(), 0xFF, static_cast<size_t>(numel) * dtype_size(dtype));
  }
}  // the blocks go back to the cache here, on top of its free list

std::vector<double> random_values(int64_t n, double lo, double hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(rng);
  return v;
}

// A tensor of uniform values; the reference must read them back with to_vector() so float32
// rounding of the inputs is not counted as an error of the op.
Tensor random_tensor(const Shape& shape, DType dtype, double lo, double hi, uint64_t seed) {
  return from_vector(random_values(shape_numel(shape), lo, hi, seed), shape, dtype);
}

// Small integers as floats: ties for comparisons, max and argmax.
Tensor small_int_tensor(const Shape& shape, DType dtype, int levels, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (double& x : v) x = static_cast<double>(static_cast<int>(rng() % static_cast<uint64_t>(levels)));
  return from_vector(v, shape, dtype);
}

// Multi-index of flat index i in shape s (row-major).
void unravel_into(int64_t i, const Shape& s, std::vector<int64_t>& idx) {
  idx.resize(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
}
std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> idx;
  unravel_into(i, s, idx);
  return idx;
}
int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return f;
}

// NumPy broadcasting, written out independently of the library: align right, extent 1 repeats.
Shape ref_broadcast_shape(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i + a.size() >= n ? a[i + a.size() - n] : 1;
    const int64_t db = i + b.size() >= n ? b[i + b.size() - n] : 1;
    out[i] = da == 1 ? db : da;
  }
  return out;
}
// Element of operand (values v, shape s) that lands at out-index idx.
double broadcast_at(const std::vector<double>& v, const Shape& s, const std::vector<int64_t>& idx) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + (s[d] == 1 ? 0 : idx[d + idx.size() - s.size()]);
  return v[static_cast<size_t>(f)];
}
std::vector<double> ref_binary(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
  const Shape out = ref_broadcast_shape(a.shape(), b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  std::vector<double> r(static_cast<size_t>(shape_numel(out)));
  std::vector<int64_t> idx;
  for (size_t i = 0; i < r.size(); ++i) {
    unravel_into(static_cast<int64_t>(i), out, idx);
    r[i] = f(broadcast_at(va, a.shape(), idx), broadcast_at(vb, b.shape(), idx));
  }
  return r;
}

// Applies f to every element (reference of an elementwise op).
std::vector<double> ref_map(const Tensor& x, const std::function<double(double)>& f) {
  auto v = x.to_vector();
  for (double& e : v) e = f(e);
  return v;
}

const DType kFloatDtypes[] = {DType::F32, DType::F64};

// ---- the poisoning itself -------------------------------------------------------------------------

// The NaN-prefill checks below are only meaningful if poisoned blocks really are handed out next.
TEST(Poison, next_allocation_of_that_size_is_poisoned) {
  poison_cache(1234, DType::F64);
  Tensor t = empty({1234}, DType::F64);
  for (double v : t.to_vector()) ASSERT_TRUE(std::isnan(v));
  poison_cache(10, DType::I64);
  EXPECT_EQ(empty({2, 5}, DType::I64).to_vector(), std::vector<double>(10, -1.0));
}

// ---- elementwise unary ops and activations -----------------------------------------------------

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;  // Klambauer et al. 2017
constexpr double kSeluScale = 1.0507009873554804934193349852946;

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo, hi;
};

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
// log(1 + e^(b x)) / b written as max(bx, 0) + log1p(e^-|bx|): exact and overflow-free. Torch
// returns x itself above the threshold.
double ref_softplus(double x, double beta, double threshold) {
  const double bx = beta * x;
  if (bx > threshold) return x;
  return (std::max(bx, 0.0) + std::log1p(std::exp(-std::abs(bx)))) / beta;
}

const std::vector<UnaryCase>& kUnaryCases() {
  static const std::vector<UnaryCase> cases = {
      {"neg", [](const Tensor& x) { return ops::neg(x); }, [](double x) { return -x; }, -3, 3},
      {"unary_minus", [](const Tensor& x) { return -x; }, [](double x) { return -x; }, -3, 3},
      {"pow_2_5", [](const Tensor& x) { return ops::pow(x, 2.5); }, [](double x) { return std::pow(x, 2.5); }, 0, 3},
      {"pow_minus_1_5", [](const Tensor& x) { return ops::pow(x, -1.5); }, [](double x) { return std::pow(x, -1.5); }, 0.5, 2},
      {"pow_2_negative_base", [](const Tensor& x) { return ops::pow(x, 2.0); }, [](double x) { return x * x; }, -3, 3},
      {"pow_3", [](const Tensor& x) { return ops::pow(x, 3.0); }, [](double x) { return x * x * x; }, -2, 2},
      {"square", [](const Tensor& x) { return ops::square(x); }, [](double x) { return x * x; }, -3, 3},
      {"exp", [](const Tensor& x) { return ops::exp(x); }, [](double x) { return std::exp(x); }, -5, 5},
      {"log", [](const Tensor& x) { return ops::log(x); }, [](double x) { return std::log(x); }, 0.01, 10},
      {"sqrt", [](const Tensor& x) { return ops::sqrt(x); }, [](double x) { return std::sqrt(x); }, 0, 9},
      {"abs", [](const Tensor& x) { return ops::abs(x); }, [](double x) { return std::abs(x); }, -3, 3},
      {"clamp", [](const Tensor& x) { return ops::clamp(x, -0.5, 0.7); },
       [](double x) { return x < -0.5 ? -0.5 : (x > 0.7 ? 0.7 : x); }, -2, 2},
      {"sigmoid", [](const Tensor& x) { return ops::sigmoid(x); }, ref_sigmoid, -8, 8},
      {"tanh", [](const Tensor& x) { return ops::tanh(x); }, [](double x) { return std::tanh(x); }, -4, 4},
      {"relu", [](const Tensor& x) { return ops::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, -2, 2},
      {"leaky_relu_default", [](const Tensor& x) { return ops::leaky_relu(x); },
       [](double x) { return x > 0 ? x : 0.01 * x; }, -2, 2},
      {"leaky_relu_0_2", [](const Tensor& x) { return ops::leaky_relu(x, 0.2); },
       [](double x) { return x > 0 ? x : 0.2 * x; }, -2, 2},
      {"elu_default", [](const Tensor& x) { return ops::elu(x); },
       [](double x) { return x > 0 ? x : std::expm1(x); }, -4, 2},
      {"elu_1_5", [](const Tensor& x) { return ops::elu(x, 1.5); },
       [](double x) { return x > 0 ? x : 1.5 * std::expm1(x); }, -4, 2},
      {"gelu", [](const Tensor& x) { return ops::gelu(x); },
       [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }, -5, 5},
      {"selu", [](const Tensor& x) { return ops::selu(x); },
       [](double x) { return kSeluScale * (x > 0 ? x : kSeluAlpha * std::expm1(x)); }, -4, 3},
      {"softplus_default", [](const Tensor& x) { return ops::softplus(x); },
       [](double x) { return ref_softplus(x, 1.0, 20.0); }, -30, 30},
      {"softplus_beta_2_threshold_5", [](const Tensor& x) { return ops::softplus(x, 2.0, 5.0); },
       [](double x) { return ref_softplus(x, 2.0, 5.0); }, -6, 6},
  };
  return cases;
}

class UnaryOp : public ::testing::TestWithParam<size_t> {};

TEST_P(UnaryOp, matches_reference_every_shape_and_dtype) {
  const UnaryCase& c = kUnaryCases()[GetParam()];
  // 0-d, small, 2-d, and one above the OpenMP threshold so the parallel loop is checked too.
  const Shape shapes[] = {{}, {7}, {3, 5}, {40000}};
  for (DType d : kFloatDtypes)
    for (const Shape& s : shapes) {
      SCOPED_TRACE(std::string(dtype_name(d)) + " " + shape_str(s));
      Tensor x = random_tensor(s, d, c.lo, c.hi, 17 + GetParam());
      poison_cache(x.numel(), d);
      Tensor y = c.op(x);
      EXPECT_EQ(y.dtype(), d);
      expect_values(y, s, ref_map(x, c.ref), tol_for(d));
    }
}

INSTANTIATE_TEST_SUITE_P(Table, UnaryOp, ::testing::Range<size_t>(0, kUnaryCases().size()),
                         [](const auto& info) { return std::string(kUnaryCases()[info.param].name); });

TEST(Unary, kinks_and_boundaries_take_the_documented_side) {
  Tensor x = from_vector({-1, -0.0, 0, 1}, {4}, DType::F64);
  EXPECT_EQ(ops::relu(x).to_vector(), (std::vector<double>{0, 0, 0, 1}));
  EXPECT_EQ(ops::abs(x).to_vector(), (std::vector<double>{1, 0, 0, 1}));
  EXPECT_EQ(ops::clamp(x, -0.0, 0.0).to_vector(), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(ops::elu(x, 2.0).to_vector(), (std::vector<double>{2 * std::expm1(-1.0), 0, 0, 1}));
  EXPECT_EQ(ops::sigmoid(scalar(0.0, DType::F64)).item(), 0.5);
  EXPECT_EQ(ops::gelu(scalar(0.0, DType::F64)).item(), 0.0);
}

TEST(Unary, sigmoid_saturates_without_nan) {
  for (DType d : kFloatDtypes) {
    Tensor x = from_vector({-1000, -100, 100, 1000}, {4}, d);
    auto y = ops::sigmoid(x).to_vector();
    for (double v : y) EXPECT_FALSE(std::isnan(v)) << dtype_name(d);
    EXPECT_EQ(y[0], 0.0);
    EXPECT_EQ(y[3], 1.0);
    EXPECT_NEAR(y[1], ref_sigmoid(-100), 1e-40);
    EXPECT_EQ(y[2], 1.0);
  }
}

TEST(Unary, softplus_and_tanh_do_not_overflow) {
  for (DType d : kFloatDtypes) {
    Tensor x = from_vector({-1000, 1000}, {2}, d);
    EXPECT_EQ(ops::softplus(x).to_vector(), (std::vector<double>{0, 1000}));
    EXPECT_EQ(ops::tanh(x).to_vector(), (std::vector<double>{-1, 1}));
    EXPECT_EQ(ops::elu(x).to_vector(), (std::vector<double>{-1, 1000}));
  }
}

TEST(Unary, integer_inputs_are_rejected) {
  Tensor i = from_vector({1, 2}, {2}, DType::I64);
  EXPECT_ERROR_HAS(ops::exp(i), "int64");
  EXPECT_ERROR_HAS(ops::relu(zeros({2}, DType::U8)), "uint8");
  EXPECT_THROW(ops::neg(i), Error);
}

// ---- binary arithmetic and broadcasting ------------------------------------------------------------

struct ShapePair {
  Shape a, b;
};
const std::vector<ShapePair> kBroadcastPairs = {
    {{3, 4}, {3, 4}},          {{3, 4}, {4}},       {{4}, {3, 4}},         {{3, 1}, {1, 4}},
    {{2, 3, 4}, {3, 1}},       {{}, {2, 3}},        {{2, 3}, {}},          {{}, {}},
    {{4, 1, 5}, {3, 1}},       {{1}, {5}},          {{2, 1, 3}, {2, 4, 1}}, {{5, 1}, {1}},
    {{300, 200}, {300, 200}},  {{300, 200}, {200}}, {{100, 1, 40}, {1, 30, 40}},  // parallel paths
    {{2, 0, 3}, {3}},                                                          // empty result
};

struct BinaryOp {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> ref;
};
const BinaryOp kBinaryOps[] = {
    {"add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }, [](double a, double b) { return a + b; }},
    {"sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }, [](double a, double b) { return a - b; }},
    {"mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }, [](double a, double b) { return a * b; }},
    {"div", [](const Tensor& a, const Tensor& b) { return ops::div(a, b); }, [](double a, double b) { return a / b; }},
    {"operator+", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }},
    {"operator-", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }},
    {"operator*", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }},
    {"operator/", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }},
};

TEST(Binary, arithmetic_with_broadcasting_matches_reference) {
  uint64_t seed = 1;
  for (const BinaryOp& op : kBinaryOps)
    for (const ShapePair& p : kBroadcastPairs)
      for (DType d : kFloatDtypes) {
        SCOPED_TRACE(std::string(op.name) + " " + shape_str(p.a) + " " + shape_str(p.b) + " " + dtype_name(d));
        Tensor a = random_tensor(p.a, d, -2, 2, seed++);
        Tensor b = random_tensor(p.b, d, 0.5, 2, seed++);  // away from 0: b is also a divisor
        const Shape out = ref_broadcast_shape(p.a, p.b);
        poison_cache(shape_numel(out), d);
        Tensor y = op.op(a, b);
        EXPECT_EQ(y.dtype(), d);
        expect_values(y, out, ref_binary(a, b, op.ref), tol_for(d));
      }
}

TEST(Binary, scalar_operands_on_either_side) {
  for (DType d : kFloatDtypes) {
    Tensor x = random_tensor({3, 4}, d, 0.5, 2, 5);
    const Tol t = tol_for(d);
    expect_values(x + 2.5, {3, 4}, ref_map(x, [](double v) { return v + 2.5; }), t);
    expect_values(2.5 + x, {3, 4}, ref_map(x, [](double v) { return 2.5 + v; }), t);
    expect_values(x - 2.5, {3, 4}, ref_map(x, [](double v) { return v - 2.5; }), t);
    expect_values(2.5 - x, {3, 4}, ref_map(x, [](double v) { return 2.5 - v; }), t);
    expect_values(x * 2.5, {3, 4}, ref_map(x, [](double v) { return v * 2.5; }), t);
    expect_values(2.5 * x, {3, 4}, ref_map(x, [](double v) { return 2.5 * v; }), t);
    expect_values(x / 2.5, {3, 4}, ref_map(x, [](double v) { return v / 2.5; }), t);
    expect_values(2.5 / x, {3, 4}, ref_map(x, [](double v) { return 2.5 / v; }), t);
    EXPECT_EQ((x * 2.5).dtype(), d);  // the scalar takes the tensor's dtype
  }
}

TEST(Binary, errors_name_shapes_and_dtypes) {
  EXPECT_ERROR_HAS(zeros({3, 4}) + zeros({3}), "[3, 4] and [3]");
  EXPECT_ERROR_HAS(ops::mul(zeros({2, 3}), zeros({3, 2})), "cannot be broadcast");
  EXPECT_ERROR_HAS(zeros({3}) + zeros({3}, DType::F64), "float32 vs float64");
  EXPECT_ERROR_HAS(zeros({3}, DType::I64) + zeros({3}, DType::I64), "int64");
}

// ---- comparisons -----------------------------------------------------------------------------

TEST(Compare, every_comparison_every_dtype_with_broadcasting) {
  struct Cmp {
    const char* name;
    Tensor (*op)(const Tensor&, const Tensor&);
    std::function<bool(double, double)> ref;
  };
  const Cmp cmps[] = {{"eq", ops::eq, [](double a, double b) { return a == b; }},
                      {"ne", ops::ne, [](double a, double b) { return a != b; }},
                      {"lt", ops::lt, [](double a, double b) { return a < b; }},
                      {"le", ops::le, [](double a, double b) { return a <= b; }},
                      {"gt", ops::gt, [](double a, double b) { return a > b; }},
                      {"ge", ops::ge, [](double a, double b) { return a >= b; }}};
  const ShapePair pairs[] = {{{4, 5}, {4, 5}}, {{4, 5}, {5}}, {{4, 1}, {1, 5}}, {{}, {4, 5}}, {{200, 200}, {200}}};
  uint64_t seed = 100;
  for (const Cmp& c : cmps)
    for (DType d : {DType::F32, DType::F64, DType::I64, DType::U8})
      for (const ShapePair& p : pairs) {
        SCOPED_TRACE(std::string(c.name) + " " + dtype_name(d) + " " + shape_str(p.a) + " " + shape_str(p.b));
        // Three levels: many ties, so == and <= differ from < on real cases.
        Tensor a = small_int_tensor(p.a, d, 3, seed++), b = small_int_tensor(p.b, d, 3, seed++);
        const Shape out = ref_broadcast_shape(p.a, p.b);
        poison_cache(shape_numel(out), DType::U8);
        Tensor y = c.op(a, b);
        EXPECT_EQ(y.dtype(), DType::U8);
        EXPECT_FALSE(y.requires_grad());
        expect_values(y, out, ref_binary(a, b, [&](double x, double z) { return c.ref(x, z) ? 1.0 : 0.0; }), {0, 0});
      }
}

TEST(Compare, errors) {
  EXPECT_ERROR_HAS(ops::eq(zeros({3}), zeros({3}, DType::I64)), "dtype mismatch");
  EXPECT_ERROR_HAS(ops::lt(zeros({3}), zeros({4})), "[3] and [4]");
}

// ---- softmax and log_softmax ----------------------------------------------------------------------

// log-softmax of x along dim d, in double with the max subtracted, one slice at a time.
std::vector<double> ref_log_softmax(const Tensor& x, int64_t d) {
  const Shape& s = x.shape();
  Shape keep = s;
  keep[static_cast<size_t>(d)] = 1;
  const auto v = x.to_vector();
  std::vector<double> r(v.size());
  std::vector<size_t> at(static_cast<size_t>(s[static_cast<size_t>(d)]));
  for (int64_t o = 0; o < shape_numel(keep); ++o) {
    auto idx = unravel(o, keep);
    for (size_t j = 0; j < at.size(); ++j) {
      idx[static_cast<size_t>(d)] = static_cast<int64_t>(j);
      at[j] = static_cast<size_t>(ravel(idx, s));
    }
    double m = -std::numeric_limits<double>::infinity();
    for (size_t i : at) m = std::max(m, v[i]);
    double sum = 0;
    for (size_t i : at) sum += std::exp(v[i] - m);
    for (size_t i : at) r[i] = (v[i] - m) - std::log(sum);
  }
  return r;
}

TEST(Softmax, every_dim_matches_reference) {
  const Shape s = {3, 4, 5};
  for (DType d : kFloatDtypes)
    for (int64_t dim : {0, 1, 2, -1, -2, -3}) {
      SCOPED_TRACE(std::string(dtype_name(d)) + " dim " + std::to_string(dim));
      Tensor x = random_tensor(s, d, -5, 5, 7 + static_cast<uint64_t>(dim + 3));
      const int64_t nd = dim < 0 ? dim + 3 : dim;
      auto lsm = ref_log_softmax(x, nd);
      std::vector<double> sm(lsm.size());
      for (size_t i = 0; i < lsm.size(); ++i) sm[i] = std::exp(lsm[i]);
      poison_cache(x.numel(), d);
      expect_values(ops::log_softmax(x, dim), s, lsm, tol_for(d));
      poison_cache(x.numel(), d);
      expect_values(ops::softmax(x, dim), s, sm, tol_for(d));
    }
}

TEST(Softmax, default_dim_is_last_and_large_inputs_are_right) {
  for (DType d : kFloatDtypes) {
    Tensor x = random_tensor({400, 100}, d, -3, 3, 9);  // above the OpenMP threshold
    auto lsm = ref_log_softmax(x, 1);
    expect_values(ops::log_softmax(x), {400, 100}, lsm, tol_for(d));
    std::vector<double> sm(lsm.size());
    for (size_t i = 0; i < lsm.size(); ++i) sm[i] = std::exp(lsm[i]);
    expect_values(ops::softmax(x), {400, 100}, sm, tol_for(d));
  }
}

TEST(Softmax, rows_sum_to_one) {
  Tensor x = random_tensor({6, 9}, DType::F64, -10, 10, 3);
  auto y = ops::softmax(x, 1).to_vector();
  for (int i = 0; i < 6; ++i) {
    double s = 0;
    for (int j = 0; j < 9; ++j) s += y[static_cast<size_t>(i * 9 + j)];
    EXPECT_NEAR(s, 1.0, 1e-14);
  }
}

TEST(Softmax, stable_for_huge_logits) {
  for (DType d : kFloatDtypes) {
    Tensor x = from_vector({1000, -1000, 0, 1e4, 1e4, -1e4}, {2, 3}, d);
    auto sm = ops::softmax(x, 1).to_vector();
    auto lsm = ops::log_softmax(x, 1).to_vector();
    for (size_t i = 0; i < 6; ++i) ASSERT_TRUE(std::isfinite(sm[i]) && std::isfinite(lsm[i])) << dtype_name(d);
    expect_values(ops::softmax(x, 1), {2, 3}, {1, 0, 0, 0.5, 0.5, 0}, {1e-6, 0});
    expect_values(ops::log_softmax(x, 1), {2, 3}, {0, -2000, -1000, -std::log(2.0), -std::log(2.0), -2e4 - std::log(2.0)},
                  tol_for(d));
  }
}

TEST(Softmax, dim_out_of_range) {
  EXPECT_ERROR_HAS(ops::softmax(zeros({2, 3}), 2), "dim 2");
  EXPECT_THROW(ops::log_softmax(zeros({2, 3}), -3), Error);
}

// ---- matmul, linear and the gemm kernel ----------------------------------------------------------

// C = A B in double; `scale` collects Σ|a||b| per element for a rounding-aware tolerance.
void ref_matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t m, int64_t k, int64_t n,
                std::vector<double>& c, std::vector<double>& scale) {
  c.assign(static_cast<size_t>(m * n), 0.0);
  scale.assign(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) {
        const double x = a[static_cast<size_t>(i * k + p)], y = b[static_cast<size_t>(p * n + j)];
        c[static_cast<size_t>(i * n + j)] += x * y;
        scale[static_cast<size_t>(i * n + j)] += std::abs(x * y);
      }
}

// |got - want| within rtol of the sum of magnitudes (a dot product's rounding grows with it).
void expect_close_scaled(const std::vector<double>& got, const std::vector<double>& want, const std::vector<double>& scale,
                       double rtol) {
  ASSERT_EQ(got.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= rtol * scale[i] + 1e-300) && reported++ < 5)
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i];
}

TEST(Matmul, matches_reference_both_dtypes) {
  struct Mkn {
    int64_t m, k, n;
  };
  const Mkn sizes[] = {{1, 1, 1}, {5, 7, 3}, {3, 1, 4}, {33, 65, 17}, {64, 128, 96}, {1, 300, 1}};
  uint64_t seed = 40;
  for (DType d : kFloatDtypes)
    for (const Mkn& s : sizes) {
      SCOPED_TRACE(std::string(dtype_name(d)) + " " + std::to_string(s.m) + "x" + std::to_string(s.k) + "x" +
                   std::to_string(s.n));
      Tensor a = random_tensor({s.m, s.k}, d, -1, 1, seed++), b = random_tensor({s.k, s.n}, d, -1, 1, seed++);
      std::vector<double> want, scale;
      ref_matmul(a.to_vector(), b.to_vector(), s.m, s.k, s.n, want, scale);
      poison_cache(s.m * s.n, d);
      Tensor c = ops::matmul(a, b);
      ASSERT_EQ(c.shape(), (Shape{s.m, s.n}));
      ASSERT_EQ(c.dtype(), d);
      expect_close_scaled(c.to_vector(), want, scale, d == DType::F64 ? 1e-12 : 1e-5);
    }
}

TEST(Matmul, inner_dimension_zero_gives_zeros) {
  for (DType d : kFloatDtypes) {
    poison_cache(6, d);
    Tensor c = ops::matmul(zeros({2, 0}, d), zeros({0, 3}, d));
    expect_values(c, {2, 3}, std::vector<double>(6, 0.0), {0, 0});
  }
}

TEST(Matmul, errors_name_the_shapes) {
  EXPECT_ERROR_HAS(ops::matmul(zeros({2, 3}), zeros({4, 2})), "[2, 3] and [4, 2]");
  EXPECT_ERROR_HAS(ops::matmul(zeros({3}), zeros({3, 2})), "do not chain");
  EXPECT_ERROR_HAS(ops::matmul(zeros({2, 3}), zeros({3, 2}, DType::F64)), "dtype mismatch");
  EXPECT_THROW(ops::matmul(zeros({2, 3}, DType::I64), zeros({3, 2}, DType::I64)), Error);
}

TEST(Linear, matches_reference_with_and_without_bias) {
  struct Nio {
    int64_t n, in, out;
  };
  const Nio sizes[] = {{1, 1, 1}, {4, 5, 3}, {128, 784, 10}, {7, 33, 65}};
  uint64_t seed = 70;
  for (DType d : kFloatDtypes)
    for (const Nio& s : sizes)
      for (bool with_bias : {true, false}) {
        SCOPED_TRACE(std::string(dtype_name(d)) + " " + std::to_string(s.n) + "," + std::to_string(s.in) + "," +
                     std::to_string(s.out) + (with_bias ? " bias" : " no bias"));
        Tensor x = random_tensor({s.n, s.in}, d, -1, 1, seed++);
        Tensor w = random_tensor({s.out, s.in}, d, -0.5, 0.5, seed++);
        Tensor b = with_bias ? random_tensor({s.out}, d, -1, 1, seed++) : Tensor();
        const auto xv = x.to_vector(), wv = w.to_vector();
        const auto bv = with_bias ? b.to_vector() : std::vector<double>(static_cast<size_t>(s.out), 0.0);
        std::vector<double> want(static_cast<size_t>(s.n * s.out)), scale(want.size());
        for (int64_t i = 0; i < s.n; ++i)
          for (int64_t o = 0; o < s.out; ++o) {
            double acc = bv[static_cast<size_t>(o)], mag = std::abs(acc);
            for (int64_t p = 0; p < s.in; ++p) {
              const double t = xv[static_cast<size_t>(i * s.in + p)] * wv[static_cast<size_t>(o * s.in + p)];
              acc += t;
              mag += std::abs(t);
            }
            want[static_cast<size_t>(i * s.out + o)] = acc;
            scale[static_cast<size_t>(i * s.out + o)] = mag;
          }
        poison_cache(s.n * s.out, d);
        Tensor y = with_bias ? ops::linear(x, w, b) : ops::linear(x, w);
        ASSERT_EQ(y.shape(), (Shape{s.n, s.out}));
        expect_close_scaled(y.to_vector(), want, scale, d == DType::F64 ? 1e-12 : 1e-5);
      }
}

TEST(Linear, errors_name_the_shapes) {
  EXPECT_ERROR_HAS(ops::linear(zeros({4, 5}), zeros({3, 6})), "[4, 5]");
  EXPECT_ERROR_HAS(ops::linear(zeros({4, 5}), zeros({3, 5}), zeros({4})), "bias [4]");
  EXPECT_ERROR_HAS(ops::linear(zeros({4, 5}), zeros({3, 5}, DType::F64)), "dtype mismatch");
  EXPECT_THROW(ops::linear(zeros({4, 5}), zeros({3, 5}), zeros({3}, DType::F64)), Error);
}

// linear_relu is a fused float32 kernel path (GEMM epilogue, masked backward with the bias sum);
// it must agree with the composite relu(linear()) in values and in every gradient, including row
// lengths that are not a multiple of the vector width and a size that takes the threaded path.
TEST(LinearRelu, fused_matches_composite_forward_and_backward) {
  struct Nio {
    int64_t n, in, out;
  };
  const Nio sizes[] = {{1, 1, 1}, {4, 5, 3}, {128, 784, 256}, {7, 33, 65}, {1100, 20, 256}};
  uint64_t seed = 90;
  for (const Nio& s : sizes)
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(std::to_string(s.n) + "," + std::to_string(s.in) + "," + std::to_string(s.out) +
                   (with_bias ? " bias" : " no bias"));
      Tensor x = random_tensor({s.n, s.in}, DType::F32, -1, 1, seed++);
      Tensor w = random_tensor({s.out, s.in}, DType::F32, -0.5, 0.5, seed++);
      Tensor b = with_bias ? random_tensor({s.out}, DType::F32, -1, 1, seed++) : Tensor();
      Tensor g = random_tensor({s.n, s.out}, DType::F32, -1, 1, seed++);
      auto run = [&](bool fused) {
        Tensor xs = x.detach().requires_grad_(), ws = w.detach().requires_grad_();
        Tensor bs = with_bias ? b.detach().requires_grad_() : Tensor();
        poison_cache(s.n * s.out, DType::F32);
        Tensor y = fused ? ops::linear_relu(xs, ws, bs) : ops::relu(ops::linear(xs, ws, bs));
        y.backward(g);
        std::vector<std::vector<double>> out{y.to_vector(), xs.grad().to_vector(), ws.grad().to_vector()};
        if (with_bias) out.push_back(bs.grad().to_vector());
        return out;
      };
      const auto want = run(false), got = run(true);
      ASSERT_EQ(got.size(), want.size());
      const char* names[] = {"y", "dx", "dw", "db"};
      for (size_t k = 0; k < want.size(); ++k) {
        SCOPED_TRACE(names[k]);
        ASSERT_EQ(got[k].size(), want[k].size());
        for (size_t i = 0; i < want[k].size(); ++i)
          ASSERT_NEAR(got[k][i], want[k][i], 1e-4 * (1 + std::abs(want[k][i]))) << "at " << i;
      }
    }
}

// Output and gradients (x, w, then b when defined) of y = f(x, w, b) on fresh leaves, with
// seed(y) as the incoming gradient: what the fused-conv tests compare between two paths.
std::vector<std::vector<double>> conv_outputs_and_grads(
    const Tensor& x, const Tensor& w, const Tensor& b,
    const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f,
    const std::function<Tensor(const Tensor&)>& seed) {
  Tensor xs = x.detach().requires_grad_(), ws = w.detach().requires_grad_();
  Tensor bs = b.defined() ? b.detach().requires_grad_() : Tensor();
  Tensor y = f(xs, ws, bs);
  y.backward(seed(y));
  std::vector<std::vector<double>> out{y.to_vector(), xs.grad().to_vector(), ws.grad().to_vector()};
  if (b.defined()) out.push_back(bs.grad().to_vector());
  return out;
}

// conv2d_relu (oneDNN post-op forward, masked backward) against the composite relu(conv2d()) in
// float32: values and every gradient, with and without bias, on the reference CNN's first layer.
TEST(Conv2dRelu, fused_matches_composite_forward_and_backward) {
  struct Case {
    Shape x, w;
    ops::Conv2dOptions opt;
  };
  const Case cases[] = {{{8, 1, 28, 28}, {32, 1, 3, 3}, {}},
                        {{2, 3, 7, 6}, {4, 3, 3, 3}, {.stride = {2, 2}, .padding = {1, 1}}}};
  uint64_t seed = 120;
  for (const Case& c : cases)
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(shape_str(c.x) + (with_bias ? " bias" : " no bias"));
      Tensor x = random_tensor(c.x, DType::F32, -1, 1, seed++);
      Tensor w = random_tensor(c.w, DType::F32, -0.5, 0.5, seed++);
      Tensor b = with_bias ? random_tensor({c.w[0]}, DType::F32, -0.5, 0.5, seed++) : Tensor();
      auto run = [&](bool fused) {
        return conv_outputs_and_grads(
            x, w, b,
            [&](const Tensor& xs, const Tensor& ws, const Tensor& bs) {
              return fused ? ops::conv2d_relu(xs, ws, bs, c.opt) : ops::relu(ops::conv2d(xs, ws, bs, c.opt));
            },
            [](const Tensor& y) { return ops::mul(y.detach(), y.detach()) + 0.5; });  // varies per element
      };
      const auto want = run(false), got = run(true);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        ASSERT_EQ(got[k].size(), want[k].size()) << "output " << k;
        for (size_t i = 0; i < want[k].size(); ++i)
          ASSERT_NEAR(got[k][i], want[k][i], 1e-4 * (1 + std::abs(want[k][i]))) << "output " << k << " at " << i;
      }
    }
}

// max_pool2d_relu is relu(max_pool2d(x)) and max_pool2d(relu(x)) bit for bit, values and
// gradients, in float32 (AVX-512 row kernels where the CPU has them) and float64 (portable loops):
// ties (small integers, zeros), odd extents, rows wider than one 16-lane step, overlapping windows.
TEST(MaxPool2dRelu, equals_both_composites_bit_for_bit) {
  const Shape shapes[] = {{2, 3, 5, 7}, {1, 2, 6, 70}, {2, 4, 26, 26}, {1, 1, 11, 11}};
  const ops::Pool2dOptions opts[] = {{}, {.kernel_size = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}};
  uint64_t seed = 300;
  for (const Shape& sh : shapes)
    for (size_t o = 0; o < std::size(opts); ++o) {
      Tensor x = small_int_tensor(sh, DType::F64, 7, seed++) - 3.0;  // -3..3: ties, zeros, all-negative windows
      std::vector<std::vector<double>> per_dtype;
      for (DType d : {DType::F32, DType::F64}) {
        SCOPED_TRACE(shape_str(sh) + " options " + std::to_string(o) + " " + dtype_name(d));
        auto run = [&](int how) {
          Tensor xs = x.to(d).detach().requires_grad_();  // a fresh leaf per run (to() of the same dtype is x itself)
          Tensor y = how == 0   ? ops::max_pool2d_relu(xs, opts[o])
                     : how == 1 ? ops::relu(ops::max_pool2d(xs, opts[o]))
                                : ops::max_pool2d(ops::relu(xs), opts[o]);
          Tensor gy = small_int_tensor(y.shape(), d, 5, 7) - 1.5;  // a gradient that varies per element
          y.backward(gy);
          std::vector<double> out = y.to_vector(), g = xs.grad().to_vector();
          out.insert(out.end(), g.begin(), g.end());
          return out;
        };
        const auto fused = run(0), after = run(1), before = run(2);
        ASSERT_EQ(fused.size(), after.size());
        for (size_t i = 0; i < fused.size(); ++i) {
          ASSERT_EQ(fused[i], after[i]) << "relu(max_pool2d) differs at " << i;
          ASSERT_EQ(fused[i], before[i]) << "max_pool2d(relu) differs at " << i;
        }
        per_dtype.push_back(fused);
      }
      ASSERT_EQ(per_dtype[0], per_dtype[1]) << "float32 and float64 kernels disagree on " << shape_str(sh);
    }
}

TEST(MaxPool2dRelu, nan_propagates_and_inference_records_no_graph) {
  std::vector<double> v(16, -1.0);
  v[5] = std::numeric_limits<double>::quiet_NaN();  // in the first 2x2 window of row pair 1
  for (DType d : {DType::F32, DType::F64}) {
    Tensor y = ops::max_pool2d_relu(from_vector(v, {1, 1, 4, 4}, d));
    const auto got = y.to_vector();
    EXPECT_TRUE(std::isnan(got[0])) << dtype_name(d);  // torch: relu(NaN) = NaN
    EXPECT_EQ(got[1], 0.0);
    EXPECT_EQ(got[2], 0.0);
  }
  // Without a graph the op records nothing (and keeps no arg-max indices).
  Tensor x = random_tensor({2, 3, 8, 8}, DType::F32, -1, 1, 5).requires_grad_();
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(ops::max_pool2d_relu(x).requires_grad());
    EXPECT_FALSE(ops::max_pool2d(x).requires_grad());
  }
  EXPECT_TRUE(ops::max_pool2d_relu(x).requires_grad());
  EXPECT_ERROR_HAS(ops::max_pool2d_relu(zeros({2, 3, 4})), "max_pool2d_relu: input must be [N, C, H, W]");
}

// conv2d_pool_relu (pooled in oneDNN's blocked layout, the conv's gradient built there) against
// the three ops in a row, bit for bit in float32: the reference CNN's two layers (32 and 64
// channels, an odd 11x11 output), 6 channels (padded to a block of 16), groups, stride and
// dilation, with and without bias;
// and the sliced inference of a large batch against the graph-recording forward.
TEST(Conv2dPoolRelu, equals_conv_relu_pool_bit_for_bit) {
  struct Case {
    Shape x, w;
    ops::Conv2dOptions opt;
  };
  const Case cases[] = {{{8, 1, 28, 28}, {32, 1, 3, 3}, {}},
                        {{8, 32, 13, 13}, {64, 32, 3, 3}, {}},
                        {{3, 2, 12, 11}, {6, 2, 3, 3}, {.padding = {1, 1}}},
                        {{2, 4, 9, 9}, {6, 2, 3, 3}, {.groups = 2}},
                        {{1, 3, 15, 14}, {8, 3, 3, 2}, {.stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}}}};
  uint64_t seed = 500;
  for (const Case& c : cases)
    for (bool with_bias : {true, false}) {
      SCOPED_TRACE(shape_str(c.x) + " -> " + std::to_string(c.w[0]) + (with_bias ? " bias" : " no bias"));
      Tensor x = random_tensor(c.x, DType::F32, -1, 1, seed++);
      Tensor w = random_tensor(c.w, DType::F32, -0.5, 0.5, seed++);
      Tensor b = with_bias ? random_tensor({c.w[0]}, DType::F32, -0.5, 0.5, seed++) : Tensor();
      auto run = [&](bool fused) {
        return conv_outputs_and_grads(
            x, w, b,
            [&](const Tensor& xs, const Tensor& ws, const Tensor& bs) {
              return fused ? ops::conv2d_pool_relu(xs, ws, bs, c.opt)
                           : ops::max_pool2d(ops::relu(ops::conv2d(xs, ws, bs, c.opt)));
            },
            [](const Tensor& y) { return small_int_tensor(y.shape(), DType::F32, 5, 9) - 1.5; });
      };
      const auto want = run(false), got = run(true);
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k) EXPECT_EQ(got[k], want[k]) << "output " << k;
    }
  // Inference: a 300-image batch runs in slices and gives the graph-recording forward's values.
  Tensor x = random_tensor({300, 3, 10, 10}, DType::F32, -1, 1, 7), w = random_tensor({16, 3, 3, 3}, DType::F32, -1, 1, 8);
  const auto recorded = ops::conv2d_pool_relu(x, w.detach().requires_grad_()).to_vector();
  NoGradGuard no_grad;
  EXPECT_EQ(ops::conv2d_pool_relu(x, w).to_vector(), recorded);
  EXPECT_ERROR_HAS(ops::conv2d_pool_relu(zeros({1, 1, 3, 3}), zeros({2, 1, 3, 3})),
                   "conv2d_pool_relu: the convolution's output 1x1 is smaller than the 2x2 pool");
  EXPECT_ERROR_HAS(ops::conv2d_pool_relu(zeros({1, 2, 5, 5}), zeros({2, 3, 3, 3})), "conv2d_pool_relu: input [1, 2, 5, 5]");
}

// A float32 convolution over more than 128 images runs in 128-image slices (the reorder arena
// stays at a training batch's size): every slice, the short last one included, lands where it
// belongs, against the float64 loops.
TEST(Conv2d, large_batches_run_in_slices) {
  Tensor x = random_tensor({300, 3, 10, 10}, DType::F64, -1, 1, 41), w = random_tensor({8, 3, 3, 3}, DType::F64, -1, 1, 42);
  Tensor b = random_tensor({8}, DType::F64, -1, 1, 43);
  const auto want = ops::conv2d(x, w, b, {.padding = {1, 1}}).to_vector();
  const auto got = ops::conv2d(x.to(DType::F32), w.to(DType::F32), b.to(DType::F32), {.padding = {1, 1}}).to_vector();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i]))) << "at " << i;
}

TEST(LinearRelu, float64_and_errors) {
  Tensor x = random_tensor({3, 4}, DType::F64, -1, 1, 1), w = random_tensor({2, 4}, DType::F64, -1, 1, 2);
  const auto want = ops::relu(ops::linear(x, w)).to_vector(), got = ops::linear_relu(x, w).to_vector();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(got[i], want[i]);
  EXPECT_ERROR_HAS(ops::linear_relu(zeros({4, 5}), zeros({3, 6})), "linear_relu: input [4, 5]");
  EXPECT_ERROR_HAS(ops::linear_relu(zeros({4, 5}), zeros({3, 5}), zeros({4})), "bias [4]");
}

// The kernel itself, on raw pointers: every transpose combination, leading dimensions larger
// than the matrices (padding must stay untouched), C full of NaN with beta = 0 (must not be read),
// and beta != 0 (must be read).
template <class T>
void check_gemm_kernel(double rtol) {
  const int64_t m = 5, n = 4, k = 6, pad = 3;
  const T kSentinel = T(12345);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> dist(-1, 1);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      SCOPED_TRACE(std::string("trans_a=") + (ta ? "1" : "0") + " trans_b=" + (tb ? "1" : "0"));
      // Stored shapes: A is m x k (or k x m), B is k x n (or n x k), all row-major with padding.
      const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
      const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
      std::vector<T> a(static_cast<size_t>(a_rows * lda), kSentinel), b(static_cast<size_t>(b_rows * ldb), kSentinel);
      std::vector<double> opa(static_cast<size_t>(m * k)), opb(static_cast<size_t>(k * n));
      for (int64_t r = 0; r < a_rows; ++r)
        for (int64_t c = 0; c < a_cols; ++c) {
          const T v = static_cast<T>(dist(rng));
          a[static_cast<size_t>(r * lda + c)] = v;
          opa[static_cast<size_t>(ta ? c * k + r : r * k + c)] = v;  // op(A)[i][p]
        }
      for (int64_t r = 0; r < b_rows; ++r)
        for (int64_t c = 0; c < b_cols; ++c) {
          const T v = static_cast<T>(dist(rng));
          b[static_cast<size_t>(r * ldb + c)] = v;
          opb[static_cast<size_t>(tb ? c * n + r : r * n + c)] = v;  // op(B)[p][j]
        }
      std::vector<double> ab, scale;
      ref_matmul(opa, opb, m, k, n, ab, scale);

      // beta = 0: C holds NaN in the matrix and a sentinel in the padding.
      std::vector<T> c(static_cast<size_t>(m * ldc), kSentinel);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[static_cast<size_t>(i * ldc + j)] = std::numeric_limits<T>::quiet_NaN();
      kernels::gemm(ta, tb, m, n, k, T(0.5), a.data(), lda, b.data(), ldb, T(0), c.data(), ldc);
      std::vector<double> got, want, sc;
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          const size_t ij = static_cast<size_t>(i * n + j);
          got.push_back(static_cast<double>(c[static_cast<size_t>(i * ldc + j)]));
          want.push_back(0.5 * ab[ij]);
          sc.push_back(0.5 * scale[ij]);
          EXPECT_TRUE(std::isfinite(got.back())) << "C[" << i << "][" << j << "] left unwritten";
        }
        for (int64_t j = n; j < ldc; ++j) EXPECT_EQ(c[static_cast<size_t>(i * ldc + j)], kSentinel) << "padding written";
      }
      expect_close_scaled(got, want, sc, rtol);

      // beta = 2: C is read. C0[i][j] = i - j.
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[static_cast<size_t>(i * ldc + j)] = static_cast<T>(i - j);
      kernels::gemm(ta, tb, m, n, k, T(1), a.data(), lda, b.data(), ldb, T(2), c.data(), ldc);
      got.clear();
      want.clear();
      sc.clear();
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const size_t ij = static_cast<size_t>(i * n + j);
          got.push_back(static_cast<double>(c[static_cast<size_t>(i * ldc + j)]));
          want.push_back(ab[ij] + 2.0 * static_cast<double>(i - j));
          sc.push_back(scale[ij] + 2.0 * std::abs(static_cast<double>(i - j)));
        }
      expect_close_scaled(got, want, sc, rtol);
    }
}

TEST(GemmKernel, float64_loop) { check_gemm_kernel<double>(1e-12); }
TEST(GemmKernel, float32_onednn) { check_gemm_kernel<float>(1e-5); }

TEST(GemmKernel, k_zero_with_beta_zero_clears_c) {
  std::vector<double> cd(6, std::numeric_limits<double>::quiet_NaN());
  kernels::gemm(false, false, 2, 3, 0, 1.0, nullptr, 1, nullptr, 3, 0.0, cd.data(), 3);
  EXPECT_EQ(cd, std::vector<double>(6, 0.0));
  std::vector<float> cf(6, std::numeric_limits<float>::quiet_NaN());
  kernels::gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, cf.data(), 3);
  EXPECT_EQ(cf, std::vector<float>(6, 0.0f));
}

// ---- reductions ---------------------------------------------------------------------------------

// Reduces x along d with f (init, step), keepdim or not, in double.
std::pair<Shape, std::vector<double>> ref_reduce(const Tensor& x, int64_t d, bool keepdim,
                                                 const std::function<double(const std::vector<double>&)>& f) {
  const Shape& s = x.shape();
  Shape keep = s;
  keep[static_cast<size_t>(d)] = 1;
  const auto v = x.to_vector();
  std::vector<double> out(static_cast<size_t>(shape_numel(keep)));
  for (int64_t o = 0; o < shape_numel(keep); ++o) {
    auto idx = unravel(o, keep);
    std::vector<double> slice;
    for (int64_t j = 0; j < s[static_cast<size_t>(d)]; ++j) {
      idx[static_cast<size_t>(d)] = j;
      slice.push_back(v[static_cast<size_t>(ravel(idx, s))]);
    }
    out[static_cast<size_t>(o)] = f(slice);
  }
  Shape shape = keep;
  if (!keepdim) shape.erase(shape.begin() + d);
  return {shape, out};
}

double slice_sum(const std::vector<double>& s) {
  double a = 0;
  for (double v : s) a += v;
  return a;
}
double slice_max(const std::vector<double>& s) { return *std::max_element(s.begin(), s.end()); }
double slice_argmax(const std::vector<double>& s) {
  return static_cast<double>(std::max_element(s.begin(), s.end()) - s.begin());  // the first maximum
}

TEST(Reduce, sum_mean_max_over_all) {
  for (DType d : kFloatDtypes)
    for (const Shape& s : {Shape{}, Shape{7}, Shape{3, 4, 5}, Shape{300, 301}}) {
      SCOPED_TRACE(std::string(dtype_name(d)) + " " + shape_str(s));
      Tensor x = random_tensor(s, d, -2, 3, 21);
      const auto v = x.to_vector();
      double sum = 0, mag = 0, mx = v[0];
      for (double e : v) sum += e, mag += std::abs(e), mx = std::max(mx, e);
      // One rounding of the result (float32) or of the summation order (float64, parallel).
      const double tol = d == DType::F64 ? 1e-13 * mag : 1e-6 * mag;
      Tensor ys = ops::sum(x), ym = ops::mean(x), yx = ops::max(x);
      EXPECT_EQ(ys.dim(), 0);
      EXPECT_EQ(ym.dim(), 0);
      EXPECT_EQ(yx.dim(), 0);
      EXPECT_NEAR(ys.item(), sum, tol);
      EXPECT_NEAR(ym.item(), sum / double(v.size()), tol / double(v.size()) + 1e-15);
      EXPECT_EQ(yx.item(), mx);
    }
}

TEST(Reduce, float32_sum_of_a_million_keeps_its_digits) {
  // Accumulating 1e6 float32 values in float32 would be off by ~1e-3 relative; the result must
  // be the exact sum rounded once.
  const int64_t n = 1000000;
  Tensor x = full({n}, 0.1, DType::F32);
  const double exact = double(n) * static_cast<double>(0.1f);
  EXPECT_EQ(ops::sum(x).item(), static_cast<double>(static_cast<float>(exact)));
  EXPECT_NEAR(ops::mean(x).item(), 0.1, 1e-7);
}

TEST(Reduce, sum_mean_max_argmax_over_one_dim) {
  const Shape s = {3, 4, 5};
  for (DType d : kFloatDtypes)
    for (int64_t dim : {0, 1, 2, -1, -3})
      for (bool keepdim : {false, true}) {
        SCOPED_TRACE(std::string(dtype_name(d)) + " dim " + std::to_string(dim) + (keepdim ? " keepdim" : ""));
        const int64_t nd = dim < 0 ? dim + 3 : dim;
        Tensor x = random_tensor(s, d, -2, 2, 30 + static_cast<uint64_t>(nd));
        auto [shape, sums] = ref_reduce(x, nd, keepdim, slice_sum);
        auto means = sums;
        for (double& m : means) m /= double(s[static_cast<size_t>(nd)]);
        const Tol t = d == DType::F64 ? Tol{1e-12, 1e-14} : Tol{1e-5, 1e-6};
        poison_cache(shape_numel(shape), d);
        expect_values(ops::sum(x, dim, keepdim), shape, sums, t);
        expect_values(ops::mean(x, dim, keepdim), shape, means, t);
        poison_cache(shape_numel(shape), d);
        expect_values(ops::max(x, dim, keepdim), shape, ref_reduce(x, nd, keepdim, slice_max).second, {0, 0});
        // Ties everywhere: argmax must give the first maximum.
        Tensor xi = small_int_tensor(s, d, 3, 50 + static_cast<uint64_t>(nd));
        poison_cache(shape_numel(shape), DType::I64);
        Tensor am = ops::argmax(xi, dim, keepdim);
        EXPECT_EQ(am.dtype(), DType::I64);
        expect_values(am, shape, ref_reduce(xi, nd, keepdim, slice_argmax).second, {0, 0});
        expect_values(ops::max(xi, dim, keepdim), shape, ref_reduce(xi, nd, keepdim, slice_max).second, {0, 0});
      }
}

TEST(Reduce, large_dim_reductions_use_every_element) {
  for (DType d : kFloatDtypes)
    for (int64_t dim : {0, 1}) {
      Tensor x = random_tensor({300, 400}, d, -1, 1, 60);
      auto [shape, sums] = ref_reduce(x, dim, false, slice_sum);
      auto mags = ref_reduce(x, dim, false, [](const std::vector<double>& v) {
                    double a = 0;
                    for (double e : v) a += std::abs(e);
                    return a;
                  }).second;
      // A sum of 300-400 terms rounds with its magnitude, like a dot product.
      Tensor y = ops::sum(x, dim);
      ASSERT_EQ(y.shape(), shape);
      expect_close_scaled(y.to_vector(), sums, mags, d == DType::F64 ? 1e-13 : 1e-6);
      expect_values(ops::argmax(x, dim), shape, ref_reduce(x, dim, false, slice_argmax).second, {0, 0});
    }
}

TEST(Reduce, argmax_of_integer_labels_and_first_tie) {
  Tensor labels = from_vector({3, 9, 9, 1, 7, 7, 7, 0}, {2, 4}, DType::I64);
  EXPECT_EQ(ops::argmax(labels, 1).to_vector(), (std::vector<double>{1, 0}));
  EXPECT_EQ(ops::argmax(labels, 0).to_vector(), (std::vector<double>{1, 0, 0, 0}));
  Tensor f = from_vector({2, 5, 5, 1}, {4}, DType::F32);
  EXPECT_EQ(ops::argmax(f, 0).item(), 1.0);
  EXPECT_EQ(ops::argmax(f, 0, true).shape(), (Shape{1}));
}

TEST(Reduce, zero_d_inputs) {
  Tensor s = scalar(2.5, DType::F64);
  EXPECT_EQ(ops::sum(s, 0).item(), 2.5);
  EXPECT_EQ(ops::sum(s, 0).dim(), 0);
  EXPECT_EQ(ops::mean(s, -1).item(), 2.5);  // dim -1 of a 0-d tensor is dim 0, as in torch
  EXPECT_EQ(ops::max(s, -1, true).item(), 2.5);
  EXPECT_EQ(ops::argmax(s, 0).item(), 0.0);
  EXPECT_THROW(ops::sum(s, 1), Error);
  EXPECT_THROW(ops::sum(s, -2), Error);
  EXPECT_EQ(ops::max(s).item(), 2.5);
}

TEST(Reduce, errors) {
  EXPECT_ERROR_HAS(ops::sum(zeros({2, 3}), 2), "dim 2");
  EXPECT_ERROR_HAS(ops::sum(zeros({2}, DType::I64)), "int64");
  EXPECT_ERROR_HAS(ops::mean(zeros({0})), "empty");
  EXPECT_ERROR_HAS(ops::max(zeros({0})), "empty");
  EXPECT_ERROR_HAS(ops::max(zeros({2, 0}), 1), "empty dim");
  EXPECT_THROW(ops::argmax(zeros({2, 3}), -3), Error);
}

// ---- shape ops ----------------------------------------------------------------------------------

TEST(ShapeOps, transpose_every_pair_of_dims) {
  const Shape s = {2, 3, 4};
  for (DType d : {DType::F32, DType::F64, DType::I64, DType::U8})
    for (int64_t a = -3; a < 3; ++a)
      for (int64_t b = -3; b < 3; ++b) {
        SCOPED_TRACE(std::string(dtype_name(d)) + " " + std::to_string(a) + "," + std::to_string(b));
        Tensor x = small_int_tensor(s, d, 200, 80);
        const size_t na = static_cast<size_t>(a < 0 ? a + 3 : a), nb = static_cast<size_t>(b < 0 ? b + 3 : b);
        Shape out = s;
        std::swap(out[na], out[nb]);
        const auto v = x.to_vector();
        std::vector<double> want(v.size());
        for (int64_t i = 0; i < x.numel(); ++i) {
          auto idx = unravel(i, out);
          std::swap(idx[na], idx[nb]);
          want[static_cast<size_t>(i)] = v[static_cast<size_t>(ravel(idx, s))];
        }
        poison_cache(x.numel(), d);
        expect_values(ops::transpose(x, a, b), out, want, {0, 0});
      }
}

TEST(ShapeOps, transpose_of_a_matrix_including_same_dim) {
  Tensor x = from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::F64);
  expect_values(ops::transpose(x), {3, 2}, {1, 4, 2, 5, 3, 6}, {0, 0});
  expect_values(ops::transpose(x, 1, 0), {3, 2}, {1, 4, 2, 5, 3, 6}, {0, 0});
  expect_values(ops::transpose(x, -1, -2), {3, 2}, {1, 4, 2, 5, 3, 6}, {0, 0});
  // Swapping a dim with itself is the identity (as torch.transpose(x, 0, 0)).
  expect_values(ops::transpose(x, 0, 0), {2, 3}, {1, 2, 3, 4, 5, 6}, {0, 0});
  expect_values(ops::transpose(x, 1, 1), {2, 3}, {1, 2, 3, 4, 5, 6}, {0, 0});
  EXPECT_ERROR_HAS(ops::transpose(zeros({3}), 0, 1), "dim 1");
  // A 0-d tensor has the one dim 0 (or -1): transposing it with itself is a copy.
  EXPECT_EQ(ops::transpose(scalar(4.0), 0, 0).item(), 4.0);
  EXPECT_EQ(ops::transpose(scalar(4.0), -1, 0).dim(), 0);
  EXPECT_THROW(ops::transpose(scalar(4.0), 0, 1), Error);
}

TEST(ShapeOps, reshape_and_flatten) {
  Tensor x = random_tensor({2, 3, 4}, DType::F64, -1, 1, 90);
  const auto v = x.to_vector();
  expect_values(ops::reshape(x, {4, -1}), {4, 6}, v, {0, 0});
  expect_values(ops::flatten(x), {2, 12}, v, {0, 0});
  expect_values(ops::flatten(x, 0), {24}, v, {0, 0});
  expect_values(ops::flatten(x, 2), {2, 3, 4}, v, {0, 0});
  expect_values(ops::flatten(x, -2), {2, 12}, v, {0, 0});
  EXPECT_ERROR_HAS(ops::reshape(x, {5, 5}), "[2, 3, 4]");
  EXPECT_THROW(ops::flatten(x, 3), Error);
}

TEST(ShapeOps, index_select_gathers_rows) {
  for (DType d : {DType::F32, DType::F64, DType::U8, DType::I64}) {
    SCOPED_TRACE(dtype_name(d));
    Tensor x = small_int_tensor({5, 2, 3}, d, 250, 91);
    const std::vector<double> rows = {4, 0, 4, 2};  // repeats allowed (sampling with replacement)
    Tensor idx = from_vector(rows, {4}, DType::I64);
    const auto v = x.to_vector();
    std::vector<double> want;
    for (double r : rows)
      for (int64_t j = 0; j < 6; ++j) want.push_back(v[static_cast<size_t>(static_cast<int64_t>(r) * 6 + j)]);
    poison_cache(24, d);
    expect_values(ops::index_select(x, idx), {4, 2, 3}, want, {0, 0});
  }
  expect_values(ops::index_select(zeros({3, 2}), from_vector({}, {0}, DType::I64)), {0, 2}, {}, {0, 0});
}

TEST(ShapeOps, index_select_errors) {
  Tensor x = zeros({3, 2});
  EXPECT_ERROR_HAS(ops::index_select(x, from_vector({0, 3}, {2}, DType::I64)), "index 3 out of range for 3 rows");
  EXPECT_ERROR_HAS(ops::index_select(x, from_vector({-1}, {1}, DType::I64)), "out of range");
  EXPECT_ERROR_HAS(ops::index_select(x, from_vector({0}, {1}, DType::F32)), "int64");
  EXPECT_THROW(ops::index_select(x, from_vector({0, 1}, {1, 2}, DType::I64)), Error);
  EXPECT_THROW(ops::index_select(scalar(1.0), from_vector({0}, {1}, DType::I64)), Error);
}

TEST(ShapeOps, concat_along_every_dim) {
  for (DType d : {DType::F32, DType::F64, DType::I64})
    for (int64_t dim : {0, 1, 2, -1}) {
      SCOPED_TRACE(std::string(dtype_name(d)) + " dim " + std::to_string(dim));
      const size_t nd = static_cast<size_t>(dim < 0 ? dim + 3 : dim);
      const Shape base = {2, 3, 4};
      std::vector<Tensor> xs;
      std::vector<Shape> shapes;
      for (int64_t extent : {1, 3, 2}) {
        Shape s = base;
        s[nd] = extent;
        shapes.push_back(s);
        xs.push_back(small_int_tensor(s, d, 100, 92 + static_cast<uint64_t>(extent)));
      }
      Shape out = base;
      out[nd] = 6;
      std::vector<double> want(static_cast<size_t>(shape_numel(out)));
      for (int64_t i = 0; i < shape_numel(out); ++i) {
        auto idx = unravel(i, out);
        size_t k = 0;
        while (idx[nd] >= shapes[k][nd]) idx[nd] -= shapes[k++][nd];
        want[static_cast<size_t>(i)] = xs[k].to_vector()[static_cast<size_t>(ravel(idx, shapes[k]))];
      }
      poison_cache(shape_numel(out), d);
      expect_values(ops::concat(xs, dim), out, want, {0, 0});
    }
  // One input, and the default dim 0.
  Tensor a = from_vector({1, 2}, {1, 2});
  expect_values(ops::concat({a}), {1, 2}, {1, 2}, {0, 0});
  expect_values(ops::concat({a, a * 2.0}), {2, 2}, {1, 2, 2, 4}, {0, 0});
}

TEST(ShapeOps, concat_errors) {
  EXPECT_ERROR_HAS(ops::concat({}), "no tensors");
  EXPECT_ERROR_HAS(ops::concat({zeros({2, 3}), zeros({2, 4})}, 0), "[2, 4]");
  EXPECT_ERROR_HAS(ops::concat({zeros({2, 3}), zeros({2, 3}, DType::F64)}), "dtype mismatch");
  EXPECT_THROW(ops::concat({zeros({2, 3}), zeros({6})}), Error);
  EXPECT_THROW(ops::concat({zeros({2}), zeros({2})}, 1), Error);
  EXPECT_THROW(ops::concat({scalar(1.0), scalar(2.0)}), Error);  // torch: zero-dim tensors cannot be concatenated
}

TEST(ShapeOps, cast_and_clone) {
  const std::vector<double> v = {-2.75, 0.1, 3.5, 1e6};
  Tensor x = from_vector(v, {2, 2}, DType::F64);
  Tensor f = ops::cast(x, DType::F32);
  EXPECT_EQ(f.dtype(), DType::F32);
  std::vector<double> fv;
  for (double e : v) fv.push_back(static_cast<double>(static_cast<float>(e)));
  expect_values(f, {2, 2}, fv, {0, 0});
  expect_values(ops::cast(x, DType::I64), {2, 2}, {-2, 0, 3, 1e6}, {0, 0});
  expect_values(ops::cast(from_vector({0, 128, 255}, {3}, DType::U8), DType::F32), {3}, {0, 128, 255}, {0, 0});
  expect_values(ops::cast(f, DType::F64), {2, 2}, fv, {0, 0});
  Tensor c = ops::clone(x);
  expect_values(c, {2, 2}, v, {0, 0});
  EXPECT_NE(c.raw_data(), x.raw_data());
}

// ---- losses ---------------------------------------------------------------------------------------

// torch.nn.functional.cross_entropy, written from its definition: with lp = log_softmax(z),
//   nll_i    = -w[y_i] lp[i, y_i]
//   smooth_i = -Σ_c w[c] lp[i, c]
//   loss_i   = (1 - ε) nll_i + (ε / C) smooth_i
// reduced by sum, or for the mean divided by Σ_i w[y_i] (N without weights), as torch does.
std::vector<double> ref_cross_entropy_per_sample(const Tensor& logits, const std::vector<int64_t>& y,
                                                 const std::vector<double>& w, double eps) {
  const int64_t n = logits.size(0), c = logits.size(1);
  auto lp = ref_log_softmax(logits, 1);
  std::vector<double> per(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto wc = [&](int64_t k) { return w.empty() ? 1.0 : w[static_cast<size_t>(k)]; };
    const double nll = -wc(y[static_cast<size_t>(i)]) * lp[static_cast<size_t>(i * c + y[static_cast<size_t>(i)])];
    double smooth = 0;
    for (int64_t k = 0; k < c; ++k) smooth -= wc(k) * lp[static_cast<size_t>(i * c + k)];
    per[static_cast<size_t>(i)] = (1 - eps) * nll + eps / double(c) * smooth;
  }
  return per;
}
double ref_reduced(const std::vector<double>& per, ops::Reduction r, double mean_denominator) {
  double s = 0;
  for (double v : per) s += v;
  return r == ops::Reduction::Mean ? s / mean_denominator : s;
}

TEST(CrossEntropy, matches_torch_formula_for_every_option) {
  const int64_t n = 6, c = 5;
  const std::vector<int64_t> y = {0, 4, 2, 2, 1, 3};
  const std::vector<double> yd(y.begin(), y.end());
  const std::vector<double> wv = {0.5, 2.0, 1.0, 0.25, 3.0};
  for (DType d : kFloatDtypes)
    for (double eps : {0.0, 0.15})
      for (bool weighted : {false, true})
        for (ops::Reduction r : {ops::Reduction::Mean, ops::Reduction::Sum, ops::Reduction::None}) {
          SCOPED_TRACE(std::string(dtype_name(d)) + " eps " + std::to_string(eps) + (weighted ? " weighted" : "") +
                       " reduction " + std::to_string(static_cast<int>(r)));
          Tensor z = random_tensor({n, c}, d, -3, 3, 110);
          ops::CrossEntropyOptions opt{.reduction = r, .label_smoothing = eps};
          std::vector<double> w;
          if (weighted) {
            w = wv;
            opt.weight = from_vector(wv, {c}, d);
          }
          auto per = ref_cross_entropy_per_sample(z, y, w, eps);
          double denom = 0;
          for (int64_t t : y) denom += w.empty() ? 1.0 : w[static_cast<size_t>(t)];
          Tensor loss = ops::cross_entropy(z, from_vector(yd, {n}, DType::I64), opt);
          EXPECT_EQ(loss.dtype(), d);
          if (r == ops::Reduction::None) {
            expect_values(loss, {n}, per, tol_for(d));
          } else {
            expect_values(loss, {}, {ref_reduced(per, r, denom)}, tol_for(d));
          }
        }
}

TEST(CrossEntropy, weights_in_another_dtype_are_converted) {
  Tensor z = random_tensor({3, 4}, DType::F32, -1, 1, 111);
  Tensor y = from_vector({1, 0, 3}, {3}, DType::I64);
  const std::vector<double> w = {1, 2, 3, 4};
  double a = ops::cross_entropy(z, y, {.weight = from_vector(w, {4}, DType::F64)}).item();
  double b = ops::cross_entropy(z, y, {.weight = from_vector(w, {4}, DType::F32)}).item();
  EXPECT_EQ(a, b);
}

TEST(CrossEntropy, equals_nll_of_log_softmax) {
  Tensor z = random_tensor({8, 7}, DType::F64, -4, 4, 112);
  Tensor y = from_vector({0, 6, 3, 3, 1, 2, 5, 4}, {8}, DType::I64);
  for (ops::Reduction r : {ops::Reduction::Mean, ops::Reduction::Sum, ops::Reduction::None}) {
    auto fused = ops::cross_entropy(z, y, {.reduction = r}).to_vector();
    auto composite = ops::nll_loss(ops::log_softmax(z, 1), y, r).to_vector();
    ASSERT_EQ(fused.size(), composite.size());
    for (size_t i = 0; i < fused.size(); ++i) EXPECT_NEAR(fused[i], composite[i], 1e-12 * std::abs(composite[i]));
  }
}

TEST(CrossEntropy, stable_for_logits_of_1e4) {
  const std::vector<double> zv = {1e4, -1e4, 0, -1e4, 1e4, 5, 1e4, 1e4, -1e4};
  const std::vector<int64_t> y = {1, 1, 2};
  for (DType d : kFloatDtypes)
    for (double eps : {0.0, 0.1}) {
      SCOPED_TRACE(std::string(dtype_name(d)) + " eps " + std::to_string(eps));
      Tensor z = from_vector(zv, {3, 3}, d).requires_grad_();
      auto per = ref_cross_entropy_per_sample(z, y, {}, eps);
      for (double v : per) ASSERT_TRUE(std::isfinite(v));
      Tensor loss = ops::cross_entropy(z, from_vector({1, 1, 2}, {3}, DType::I64), {.label_smoothing = eps});
      ASSERT_TRUE(std::isfinite(loss.item()));
      expect_values(loss, {}, {ref_reduced(per, ops::Reduction::Mean, 3.0)}, tol_for(d));
      // Its gradient is softmax - target distribution, divided by N: finite too.
      loss.backward();
      auto lp = ref_log_softmax(z, 1);
      std::vector<double> want(9);
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t k = 0; k < 3; ++k) {
          const double target = (1 - eps) * (k == y[static_cast<size_t>(i)] ? 1.0 : 0.0) + eps / 3.0;
          want[static_cast<size_t>(i * 3 + k)] = (std::exp(lp[static_cast<size_t>(i * 3 + k)]) - target) / 3.0;
        }
      expect_values(z.grad(), {3, 3}, want, tol_for(d));
    }
}

// Two logits tied at 1e4: the loss of either is log 2. Adding log 2 to 1e4 first (x - (m + log s))
// would round it to float32's spacing at 1e4 (~1e-3) and be off by ~4e-4 relative.
TEST(CrossEntropy, tied_huge_logits_keep_float32_precision) {
  for (DType d : kFloatDtypes) {
    Tensor z = from_vector({1e4, 1e4, -1e4, -1e4, -1e4, -1e4}, {2, 3}, d);
    Tensor y = from_vector({0, 2}, {2}, DType::I64);
    expect_values(ops::cross_entropy(z, y, {.reduction = ops::Reduction::None}), {2},
                  {std::log(2.0), std::log(3.0)}, tol_for(d));
  }
}

TEST(CrossEntropy, errors_name_the_problem) {
  Tensor z = zeros({3, 4});
  EXPECT_ERROR_HAS(ops::cross_entropy(z, from_vector({0, 4, 1}, {3}, DType::I64)), "target 4 at index 1 is outside the 4 classes");
  EXPECT_ERROR_HAS(ops::cross_entropy(z, from_vector({0, -1, 1}, {3}, DType::I64)), "outside");
  EXPECT_ERROR_HAS(ops::cross_entropy(z, from_vector({0, 1, 1}, {3}, DType::F32)), "int64 [3]");
  EXPECT_ERROR_HAS(ops::cross_entropy(z, from_vector({0, 1}, {2}, DType::I64)), "[2]");
  EXPECT_ERROR_HAS(ops::cross_entropy(zeros({3}), from_vector({0, 1, 1}, {3}, DType::I64)), "[N, C]");
  EXPECT_ERROR_HAS(ops::cross_entropy(z, from_vector({0, 1, 1}, {3}, DType::I64), {.label_smoothing = 1.0}),
                   "label_smoothing");
  EXPECT_ERROR_HAS(ops::cross_entropy(z, from_vector({0, 1, 1}, {3}, DType::I64), {.weight = ones({3})}), "weight must be [4]");
}

TEST(NllLoss, matches_reference_every_reduction) {
  const std::vector<double> yd = {2, 0, 1, 2};
  for (DType d : kFloatDtypes) {
    Tensor lp = random_tensor({4, 3}, d, -3, 0, 120);
    const auto v = lp.to_vector();
    std::vector<double> per;
    for (size_t i = 0; i < 4; ++i) per.push_back(-v[i * 3 + static_cast<size_t>(yd[i])]);
    Tensor y = from_vector(yd, {4}, DType::I64);
    expect_values(ops::nll_loss(lp, y, ops::Reduction::None), {4}, per, tol_for(d));
    expect_values(ops::nll_loss(lp, y, ops::Reduction::Sum), {}, {ref_reduced(per, ops::Reduction::Sum, 1)}, tol_for(d));
    expect_values(ops::nll_loss(lp, y), {}, {ref_reduced(per, ops::Reduction::Mean, 4)}, tol_for(d));
  }
  EXPECT_ERROR_HAS(ops::nll_loss(zeros({2, 3}), from_vector({0, 3}, {2}, DType::I64)), "outside the 3 classes");
  EXPECT_ERROR_HAS(ops::nll_loss(zeros({2, 3, 1}), from_vector({0, 1}, {2}, DType::I64)), "[N, C]");
}

TEST(MseLoss, matches_reference_every_reduction) {
  for (DType d : kFloatDtypes) {
    Tensor a = random_tensor({5, 3}, d, -2, 2, 130), b = random_tensor({5, 3}, d, -2, 2, 131);
    const auto av = a.to_vector(), bv = b.to_vector();
    std::vector<double> sq;
    for (size_t i = 0; i < av.size(); ++i) sq.push_back((av[i] - bv[i]) * (av[i] - bv[i]));
    expect_values(ops::mse_loss(a, b, ops::Reduction::None), {5, 3}, sq, tol_for(d));
    expect_values(ops::mse_loss(a, b, ops::Reduction::Sum), {}, {ref_reduced(sq, ops::Reduction::Sum, 1)}, tol_for(d));
    expect_values(ops::mse_loss(a, b), {}, {ref_reduced(sq, ops::Reduction::Mean, 15)}, tol_for(d));
  }
  // The lecture's XOR targets: predictions 0.5 everywhere give a mean squared error of 0.25.
  EXPECT_EQ(ops::mse_loss(full({4, 1}, 0.5, DType::F64), from_vector({0, 1, 1, 0}, {4, 1}, DType::F64)).item(), 0.25);
  EXPECT_THROW(ops::mse_loss(zeros({3}), zeros({4})), Error);
}

}  // namespace

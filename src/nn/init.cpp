#include "descent/init.h"

#include <fmt/format.h>

#include <cmath>
#include <regex>

#include "descent/nn.h"

namespace descent::init {

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "identity" || nl == "sigmoid" || nl.rfind("conv", 0) == 0) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 3.0 / 4.0;
  throw Error(fmt::format("calculate_gain: unknown nonlinearity '{}'", nl));
}

std::pair<int64_t, int64_t> fans(const Tensor& w) {
  if (w.dim() < 2) throw Error(fmt::format("fan-based init needs a weight of >= 2 dims, got {}", w.shape_str()));
  int64_t receptive = 1;
  for (int64_t i = 2; i < w.dim(); ++i) receptive *= w.size(i);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

namespace {
void fill_uniform(Tensor& w, Generator& gen, double lo, double hi) { w.copy_(uniform(w.shape(), lo, hi, gen, w.dtype())); }
void fill_normal(Tensor& w, Generator& gen, double mean, double std) { w.copy_(normal(w.shape(), mean, std, gen, w.dtype())); }
int64_t pick_fan(const Tensor& w, FanMode mode) {
  auto [in, out] = fans(w);
  return mode == FanMode::FanIn ? in : out;
}
}  // namespace

void xavier_uniform_(Tensor& w, Generator& gen, double gain) {
  auto [in, out] = fans(w);
  double a = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  fill_uniform(w, gen, -a, a);
}
void xavier_normal_(Tensor& w, Generator& gen, double gain) {
  auto [in, out] = fans(w);
  fill_normal(w, gen, 0.0, gain * std::sqrt(2.0 / static_cast<double>(in + out)));
}
void kaiming_uniform_(Tensor& w, Generator& gen, double a, FanMode mode, const std::string& nl) {
  double bound = calculate_gain(nl, a) * std::sqrt(3.0 / static_cast<double>(pick_fan(w, mode)));
  fill_uniform(w, gen, -bound, bound);
}
void kaiming_normal_(Tensor& w, Generator& gen, double a, FanMode mode, const std::string& nl) {
  fill_normal(w, gen, 0.0, calculate_gain(nl, a) / std::sqrt(static_cast<double>(pick_fan(w, mode))));
}
void lecun_normal_(Tensor& w, Generator& gen) {
  fill_normal(w, gen, 0.0, 1.0 / std::sqrt(static_cast<double>(fans(w).first)));
}
void normal_(Tensor& w, Generator& gen, double mean, double std) { fill_normal(w, gen, mean, std); }
void uniform_(Tensor& w, Generator& gen, double a, double b) { fill_uniform(w, gen, a, b); }
void constant_(Tensor& w, double v) { w.fill_(v); }
void zeros_(Tensor& w) { w.fill_(0.0); }

Spec parse(const std::string& text) {
  static const std::regex re(R"(^\s*([a-z_]+)\s*(?:\(\s*([^)]*)\))?\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) throw Error(fmt::format("init '{}': expected name or name(args)", text));
  Spec s;
  s.name = m[1];
  std::vector<std::string> args;
  std::string a = m[2];
  size_t pos = 0;
  while (!a.empty() && pos <= a.size()) {
    size_t c = a.find(',', pos);
    std::string part = a.substr(pos, c == std::string::npos ? std::string::npos : c - pos);
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (auto eq = part.find('='); eq != std::string::npos) part = part.substr(eq + 1);  // "std=0.1"
    args.push_back(part);
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  auto num = [&](size_t i) {
    try {
      return std::stod(args.at(i));
    } catch (...) {
      throw Error(fmt::format("init '{}': argument {} is not a number", text, i + 1));
    }
  };
  static const char* kNames[] = {"default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                                 "lecun_normal", "normal", "uniform", "constant", "zeros"};
  bool known = false;
  for (const char* n : kNames) known = known || s.name == n;
  if (!known)
    throw Error(fmt::format("unknown init '{}' (expected one of default, xavier_uniform, xavier_normal, "
                            "kaiming_uniform, kaiming_normal, lecun_normal, normal(std), uniform(a, b), "
                            "constant(v), zeros)", s.name));
  if (s.name == "xavier_uniform" || s.name == "xavier_normal") {
    if (!args.empty()) s.gain = num(0);
  } else if (s.name == "normal") {
    if (args.size() == 1) s.std = num(0);
    if (args.size() >= 2) s.mean = num(0), s.std = num(1);
  } else if (s.name == "uniform") {
    if (args.size() == 1) s.a = -num(0), s.b = num(0);
    if (args.size() >= 2) s.a = num(0), s.b = num(1);
  } else if (s.name == "constant") {
    if (args.size() != 1) throw Error(fmt::format("init '{}': constant needs one value", text));
    s.value = num(0);
  } else if (s.name == "kaiming_uniform" || s.name == "kaiming_normal") {
    if (!args.empty()) s.nonlinearity = args[0];
  }
  return s;
}

void apply(Tensor& w, const Spec& s, Generator& gen) {
  if (s.name == "xavier_uniform") xavier_uniform_(w, gen, s.gain);
  else if (s.name == "xavier_normal") xavier_normal_(w, gen, s.gain);
  else if (s.name == "kaiming_uniform") kaiming_uniform_(w, gen, s.slope, s.mode, s.nonlinearity);
  else if (s.name == "kaiming_normal") kaiming_normal_(w, gen, s.slope, s.mode, s.nonlinearity);
  else if (s.name == "lecun_normal") lecun_normal_(w, gen);
  else if (s.name == "normal") normal_(w, gen, s.mean, s.std);
  else if (s.name == "uniform") uniform_(w, gen, s.a, s.b);
  else if (s.name == "constant") constant_(w, s.value);
  else if (s.name == "zeros") zeros_(w);
  else if (s.name != "default") throw Error(fmt::format("unknown init '{}'", s.name));
}

void apply(nn::Module& m, const Spec& s, Generator& gen) {
  if (s.name == "default") return;
  for (auto& [name, t] : m.named_parameters()) {
    Tensor p = t;
    bool is_weight = name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0 && p.dim() >= 2;
    if (is_weight) apply(p, s, gen);
    else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) zeros_(p);
  }
}

}  // namespace descent::init

// `descent lr-find CONFIG [--start 1e-7] [--end 10] [--steps 100] [--out DIR] [--apply FILE]`: the LR
// range test on the config's model and data (train::lr_find), its curve as CSV and SVG, and
// optionally a copy of the config with the suggested lr.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <toml++/toml.h>

#include "cli/commands.h"
#include "descent/config.h"
#include "descent/error.h"
#include "descent/train.h"

namespace descent::cli {
namespace {

namespace fs = std::filesystem;

// The schedule library's messages start "schedule: "; the user needs to know which file to fix.
Error naming_the_file(const Error& e, const std::string& file) {
  const std::string what = e.what();
  if (what.rfind("schedule: ", 0) == 0) return Error(file + what.substr(8));
  return e;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!(out << text) || !out.flush()) throw Error(fmt::format("{}: cannot write the file", path.string()));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot open config file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Three significant digits: the test locates a good lr to a fraction of a decade, so more digits
// would only pretend precision. Always a TOML float ("3.0", not the integer "3").
std::string lr_text(double lr) {
  std::string s = fmt::format("{:.3g}", lr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

toml::table parse_toml(const std::string& text, const std::string& where) {
  try {
    return toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: {}", where, e.description()));
  }
}

// The config text with `lr = value` in its [optimizer] table, edited in place so the user's comments
// and layout survive; nullopt when [optimizer] is not written as a plain table header with the lr
// on a line of its own (then the caller rewrites the whole file).
std::optional<std::string> edit_lr_in_place(const std::string& text, const std::string& value, const std::string& comment) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  auto trimmed = [](const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b);
  };
  size_t header = lines.size();
  for (size_t i = 0; i < lines.size(); ++i)
    if (trimmed(lines[i]).rfind("[optimizer]", 0) == 0) header = i;
  if (header == lines.size()) return std::nullopt;
  const std::string new_line = fmt::format("lr = {}  # {}", value, comment);
  size_t i = header + 1;
  for (; i < lines.size() && trimmed(lines[i]).rfind('[', 0) != 0; ++i) {
    const std::string t = trimmed(lines[i]);
    if (t.rfind("lr", 0) == 0 && trimmed(t.substr(2)).rfind('=', 0) == 0) {
      lines[i] = lines[i].substr(0, lines[i].size() - t.size()) + new_line;
      break;
    }
  }
  if (i == lines.size() || trimmed(lines[i]).rfind('[', 0) == 0) lines.insert(lines.begin() + static_cast<long>(header) + 1, new_line);
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Writes `config` with [optimizer] lr = `lr` to `path`. Without --set overrides the original text
// is edited in place (and checked to say exactly "the original with this lr"); otherwise, or when
// the layout defeats the edit, the resolved config is written whole, as a run folder's config.toml.
void apply_lr(const Config& cfg, bool overridden, double lr, const std::string& comment, const std::string& path) {
  std::error_code ec;
  if (fs::equivalent(cfg.source, path, ec))
    throw Error(fmt::format("--apply {}: that is the config itself; name a new file for the copy", path));
  const std::string value = lr_text(lr);
  auto with_lr = [&](const std::string& text) {
    toml::table t = parse_toml(text, cfg.source);
    if (auto* opt = t["optimizer"].as_table()) opt->insert_or_assign("lr", std::stod(value));
    return t;
  };
  if (!overridden) {
    const std::string original = read_text(cfg.source);
    if (auto edited = edit_lr_in_place(original, value, comment)) {
      toml::table got;
      try {
        got = toml::parse(*edited, path);
      } catch (const toml::parse_error&) {
        got = {};
      }
      if (got == with_lr(original)) return write_text(path, *edited);
    }
  }
  const toml::table expected = with_lr(cfg.resolved_toml);
  std::ostringstream os;
  os << "# " << cfg.source << " with [optimizer] lr = " << value << " (" << comment << ")\n" << expected << "\n";
  write_text(path, os.str());
}

}  // namespace

void register_lr_find(CLI::App& app) {
  struct Opts {
    std::string config;
    train::LrFindOptions find;
    std::vector<std::string> sets;
    std::string out;
    std::string apply;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand(
      "lr-find", "LR range test: train a few minibatches with an exponentially growing lr and suggest an lr "
                 "(steepest descent of the smoothed loss, and the minimum / 10); weights are not kept");
  cmd->add_option("config", opts->config, "Config file (TOML)")->required();
  cmd->add_option("--start", opts->find.start_lr, "lr of the first minibatch")->capture_default_str();
  cmd->add_option("--end", opts->find.end_lr, "lr of the last minibatch")->capture_default_str();
  cmd->add_option("--steps", opts->find.steps, "Minibatches to run (the test stops earlier when the loss diverges)")
      ->capture_default_str();
  cmd->add_option("--smoothing", opts->find.smoothing, "beta of the loss's moving average (fastai's 0.98)")
      ->capture_default_str();
  cmd->add_option("--set", opts->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--out", opts->out, "Folder for lr_find.csv and lr_find.svg (default runs/<config name>-lr-find-<timestamp>)");
  cmd->add_option("--apply", opts->apply, "Write a copy of the config with the suggested lr to this file");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      Config cfg = load_config(opts->config, opts->sets);
      std::unique_ptr<train::Trainer> built;
      try {
        built = std::make_unique<train::Trainer>(cfg, train::TrainerOptions{.run_dir = "", .progress = false});
      } catch (const Error& e) {
        throw naming_the_file(e, cfg.source);  // the trainer lays the [schedule] over the run
      }
      train::Trainer& trainer = *built;
      const auto t0 = std::chrono::steady_clock::now();
      train::LrFindResult r = train::lr_find(trainer, opts->find);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

      std::string out = opts->out;
      if (out.empty()) {
        Config named = cfg;
        named.name = (cfg.name.empty() ? "run" : cfg.name) + "-lr-find";
        out = train::default_run_dir(named);
      }
      std::error_code ec;
      fs::create_directories(out, ec);
      if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", out, ec.message()));
      write_text(fs::path(out) / "lr_find.csv", train::lr_find_csv(r));
      if (!r.lr.empty()) write_text(fs::path(out) / "lr_find.svg", train::lr_find_svg(r));

      const size_t n = r.lr.size();
      fmt::print("lr-find: {} of {} minibatches in {:.1f} s, lr {:.3g} .. {:.3g}{}\n", n, opts->find.steps, secs,
                 n ? r.lr.front() : 0.0, n ? r.lr.back() : 0.0,
                 r.diverged ? fmt::format(" (stopped: smoothed loss above {}x its minimum)", opts->find.diverge_factor) : "");
      if (r.min_index >= 0)
        fmt::print("minimum smoothed loss {:.4g} at lr {:.3g}; min/10: {}\n",
                   r.smoothed_loss[static_cast<size_t>(r.min_index)], r.min_lr, lr_text(r.min_lr_div10));
      fmt::print("files: {}, {}\n", (fs::path(out) / "lr_find.csv").string(), (fs::path(out) / "lr_find.svg").string());
      if (r.steepest_index < 0)
        throw Error(fmt::format("{}: the smoothed loss never fell over the lr range tried, so there is no steepest "
                                "descent to suggest; lower --start or raise --end", cfg.source));
      fmt::print("suggested lr: {} (steepest descent of the smoothed loss)\n", lr_text(r.steepest_lr));
      if (!opts->apply.empty()) {
        apply_lr(cfg, !opts->sets.empty(), r.steepest_lr,
                 fmt::format("descent lr-find: steepest descent; min/10 was {}", lr_text(r.min_lr_div10)), opts->apply);
        fmt::print("wrote {} with [optimizer] lr = {}\n", opts->apply, lr_text(r.steepest_lr));
      }
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

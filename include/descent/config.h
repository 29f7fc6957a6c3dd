// descent/config.h — the training configuration, as read from TOML.
//
// A config file has the sections [data], [model], [loss], [optimizer], [schedule], [train]
// (see docs/CONFIG.md for every key). Unknown keys are errors: a typo must not silently train
// the wrong model. `--set section.key=value` overrides any key before validation.
//
// Layers, losses and optimizers are built by factories from `Args`: the key/value table of one
// item (e.g. `{ type = "linear", out_features = 256 }`). A factory takes the keys it knows with
// the typed getters; `Args::finish()` then rejects whatever is left, naming the key and where.
//
//   descent::Config cfg = descent::load_config("examples/fashion_mlp.toml", {"optimizer.lr=0.05"});
//   std::cout << cfg.train.epochs << "\n";
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "descent/tensor.h"

namespace descent {

/// One value of a config table.
using ArgValue = std::variant<bool, int64_t, double, std::string, std::vector<double>, std::vector<std::string>>;

/// The key/value table of one config item, with typed getters that remember what was read.
class Args {
 public:
  Args() = default;
  /// `where` names the item in messages, e.g. "fashion_mlp.toml: [model] layers[2]".
  explicit Args(std::string where) : where_(std::move(where)) {}
  /// Sets a value.
  void set(const std::string& key, ArgValue v) { values_[key] = std::move(v); }
  /// True if the key is present.
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  /// Integer value or default; throws on a wrong type.
  int64_t get_int(const std::string& key, std::optional<int64_t> def = std::nullopt) const;
  /// Number (int or float) or default.
  double get_double(const std::string& key, std::optional<double> def = std::nullopt) const;
  /// Boolean or default.
  bool get_bool(const std::string& key, std::optional<bool> def = std::nullopt) const;
  /// String or default.
  std::string get_string(const std::string& key, std::optional<std::string> def = std::nullopt) const;
  /// Array of numbers (a single number is accepted as a 1-element list) or default.
  std::vector<double> get_doubles(const std::string& key, std::optional<std::vector<double>> def = std::nullopt) const;
  /// Array of ints (a single int is accepted) or default.
  std::vector<int64_t> get_ints(const std::string& key, std::optional<std::vector<int64_t>> def = std::nullopt) const;
  /// Array of strings (a single string is accepted) or default.
  std::vector<std::string> get_strings(const std::string& key,
                                       std::optional<std::vector<std::string>> def = std::nullopt) const;
  /// Throws descent::Error for the first key never read ("unknown key 'x' (did you mean 'y'?)").
  void finish() const;
  /// Where this item is, for messages.
  const std::string& where() const { return where_; }
  /// Every key present.
  std::vector<std::string> keys() const;
  /// Raw values (for writing the resolved config).
  const std::map<std::string, ArgValue>& values() const { return values_; }
  /// Marks a key as read without reading it.
  void touch(const std::string& key) const { used_.insert(key); }

 private:
  const ArgValue* find(const std::string& key) const;
  [[noreturn]] void type_error(const std::string& key, const char* expected) const;
  std::string where_;
  std::map<std::string, ArgValue> values_;
  mutable std::set<std::string> used_;
};

/// The closest of `candidates` to `word` within edit distance 2, or "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

/// [data]: where the examples come from (see docs/CONFIG.md).
struct DataConfig {
  std::string name;                 ///< "fashion-mnist", "mnist" (Debian dataset packages) or "" for explicit paths
  std::string format = "idx";       ///< "idx" or "csv"
  std::string train_images, train_labels, test_images, test_labels;  ///< explicit IDX paths
  double validation_split = 0.0;    ///< fraction of the training set held out for validation
  bool stratify = false;            ///< stratified validation split
  Args extra;                       ///< remaining keys for the data loaders (csv options, augmentation)
};

/// [model]: per-sample input shape and the ordered layers.
struct ModelConfig {
  Shape input_shape;                ///< per-sample shape, e.g. [784] or [1, 28, 28]
  std::string init = "default";     ///< initializer applied to every layer without its own `init`
  std::vector<Args> layers;         ///< one table per layer, each with `type`
  std::string init_from;            ///< safetensors file to start from (optional)
};

/// [train]: the loop.
struct TrainConfig {
  int64_t epochs = 10;              ///< passes over the training set
  int64_t batch_size = 128;         ///< examples per step ("full" in TOML = the whole set)
  bool full_batch = false;          ///< batch_size = "full"
  uint64_t seed = 0;                ///< seeds init, shuffling, dropout
  int64_t threads = 0;              ///< OpenMP threads (0 = all cores)
  DType dtype = DType::F32;         ///< "float32" or "float64"
  bool shuffle = true;              ///< reshuffle every epoch
  int64_t max_steps = 0;            ///< stop after this many optimizer steps (0 = no limit)
  int64_t log_every = 0;            ///< write steps.jsonl every N steps (0 = off)
  bool progress = true;             ///< progress bar on a terminal
  Args extra;                       ///< remaining keys for other subsystems (checkpoints, clipping, ...)
};

/// A whole training configuration.
struct Config {
  std::string source;               ///< file it was read from
  std::string name;                 ///< file stem, for the run folder name
  DataConfig data;
  ModelConfig model;
  Args loss;                        ///< [loss] with `type`
  Args optimizer;                   ///< [optimizer] with `type`
  std::string schedule_toml;        ///< [schedule] as TOML text ("" when absent; parsed by sched)
  TrainConfig train;
  /// Other sections ([checkpoint], [health], [early_stopping], [regularization], [distributed]),
  /// consumed by their subsystems; the trainer calls finish() on each after building.
  std::map<std::string, Args> sections;
  std::string resolved_toml;        ///< the config after overrides, as TOML text
};

/// Reads, overrides (`section.key=value` strings) and validates a config file.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
/// Same from TOML text (`name` stands for the file in messages).
Config parse_config(const std::string& toml_text, const std::string& name,
                    const std::vector<std::string>& overrides = {});

}  // namespace descent

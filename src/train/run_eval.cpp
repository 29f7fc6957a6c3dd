// A finished run loaded back and evaluated: `descent eval`, `descent predict` and the reference
// batch of `descent export`. The model is rebuilt from the run's config.toml; the data are loaded
// unscaled and the standardization stored with the weights is applied, so a changed split or a
// new file is standardized exactly as the training split was.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include <nlohmann/json.hpp>

#include "descent/autograd.h"
#include "descent/io.h"
#include "descent/ops.h"
#include "descent/train.h"
#include "train/metrics.h"

namespace descent::train {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kStandardizerKey = "descent.standardizer";

// The model weights of a checkpoint ("model." tensors, prefix removed).
nn::NamedTensors model_tensors(const io::LoadedCheckpoint& c) {
  nn::NamedTensors out;
  for (const auto& [name, t] : c.tensors)
    if (name.rfind("model.", 0) == 0) out.emplace_back(name.substr(6), t);
  return out;
}

// The standardization a checkpoint's state recorded ("" when none or an older checkpoint).
std::string checkpoint_standardizer(const io::LoadedCheckpoint& c) {
  const json state = json::parse(c.state_json);
  if (!state.contains("standardizer") || state["standardizer"].is_null()) return "";
  return state["standardizer"].dump();
}

struct Weights {
  nn::NamedTensors tensors;
  std::string standardizer;  // JSON, "" = not stored
  std::string source;
};

Weights weights_of(const std::string& run, const std::string& from, std::vector<std::string>& warnings) {
  const std::string final_path = (fs::path(run) / "final.safetensors").string();
  io::CheckpointStore store((fs::path(run) / "checkpoints").string());
  if (from == "final") {
    if (!fs::exists(final_path))
      throw Error(fmt::format("{}: missing (the run did not finish?); use --from latest or --from best", final_path));
    io::SafetensorsData d = io::load_safetensors(final_path);
    auto it = d.metadata.find(kStandardizerKey);
    return {std::move(d.tensors), it == d.metadata.end() ? "" : it->second, final_path};
  }
  if (from != "latest" && from != "best")
    throw Error(fmt::format("weights '{}': choose one of final, latest, best", from));
  std::vector<std::string> skipped;
  std::optional<io::LoadedCheckpoint> newest = store.load_newest(&skipped);
  for (const auto& s : skipped) warnings.push_back("skipped " + s);
  if (!newest)
    throw Error(fmt::format("{}: no valid checkpoint ({}); use --from final", store.dir(),
                            store.list().empty() ? "the run wrote none: [checkpoint] off, or shorter than its min_seconds"
                                                 : "all damaged"));
  if (from == "latest")
    return {model_tensors(*newest), checkpoint_standardizer(*newest), fmt::format("{}/{}.json", store.dir(), newest->id.name())};
  const json state = json::parse(newest->state_json);
  if (!state.contains("best") || !state["best"].is_object())
    throw Error(fmt::format("{}: no best checkpoint recorded (every_epochs = 0?)", store.dir()));
  auto id = io::CheckpointId::parse(state["best"].value("name", ""));
  if (!id) throw Error(fmt::format("{}: the best checkpoint's name is malformed", store.dir()));
  io::LoadedCheckpoint best = store.load(*id);
  return {model_tensors(best), checkpoint_standardizer(best),
          fmt::format("{}/{}.json ({} = {})", store.dir(), id->name(), state["best"].value("metric", ""),
                      state["best"]["value"].dump())};
}

// True when training fitted a Standardizer (scaling, or imputation by the training mean).
bool fits_standardizer(const data::DataOptions& o) {
  return o.standardize != data::Scaling::None || o.csv.missing == data::Missing::Mean;
}

bool is_idx(const data::DataOptions& o) {
  return o.name == "fashion-mnist" || o.name == "mnist" || (o.name.empty() && o.format == "idx");
}

// Reading options of the training file as data::prepare resolves them (a named dataset fixes how
// its file is read; the column roles stay the user's).
data::CsvOptions csv_options(const data::DataOptions& o) {
  if (o.name.empty()) return o.csv;
  return data::table_reading_options(data::locate_table(o.name), o.csv);
}

// The file names of a Dataset::source ("dir/images, dir/labels" → "images, labels").
std::string file_name(const std::string& source) {
  std::string out;
  for (size_t b = 0; b <= source.size();) {
    size_t e = source.find(", ", b);
    if (e == std::string::npos) e = source.size();
    out += (out.empty() ? "" : ", ") + fs::path(source.substr(b, e - b)).filename().string();
    b = e + 2;
  }
  return out;
}

bool flattens(const LoadedRun& run, const Shape& sample) {
  const Shape& in = run.config.model.input_shape;
  if (sample == in) return false;
  if (in.size() == 1 && shape_numel(sample) == in[0]) return true;
  throw Error(fmt::format("{}: the model takes samples of shape {} but the data has {}", run.dir, shape_str(in),
                          shape_str(sample)));
}

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// A CSV field, quoted when it holds a delimiter, a quote or a line break (RFC 4180).
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::map<std::string, std::string> weights_metadata(const data::Standardizer& standardizer) {
  std::map<std::string, std::string> m{{"format", "pt"}};
  if (standardizer.num_features() > 0) m[kStandardizerKey] = standardizer.to_json();
  return m;
}

LoadedRun load_run(const std::string& run_dir, const std::string& from) {
  LoadedRun run;
  run.dir = run_dir;
  const std::string cfg_path = (fs::path(run_dir) / "config.toml").string();
  if (!fs::exists(cfg_path)) throw Error(fmt::format("{}: no config.toml: not a descent run folder", run_dir));
  run.config = load_config(cfg_path);
  Weights w = weights_of(run_dir, from, run.warnings);
  run.weights_source = w.source;
  run.model = nn::build_model(run.config.model, run.config.train.dtype, run.config.train.seed);
  io::load_state_dict(*run.model, w.tensors, w.source);
  run.model->eval();
  if (!w.standardizer.empty()) {
    try {
      run.standardizer = data::Standardizer::from_json(w.standardizer);
    } catch (const Error& e) {
      throw Error(fmt::format("{}: stored standardization: {}", w.source, e.what()));
    }
  } else if (const data::DataOptions o = data_options(run.config); fits_standardizer(o)) {
    // Saved before descent stored it: the same data and seed give the same split and statistics.
    run.standardizer = data::prepare(o).standardizer;
    run.warnings.push_back(fmt::format("{} holds no standardization; refitted it on the training split of the run's data",
                                       w.source));
  }
  return run;
}

EvalSet eval_set(const LoadedRun& run, const EvalDataOptions& options) {
  data::DataOptions o = data_options(run.config);
  o.standardize = data::Scaling::None;  // loaded unscaled: the stored standardization is applied below
  EvalSet set;
  if (options.data.empty()) {
    if (!options.targets.empty()) throw Error("--labels needs --data");
    data::PreparedData p = data::prepare(o);
    if (p.test.size() == 0 || p.test_indices.empty())
      throw Error(fmt::format("{}: the run has no test set ([data] test_fraction or test_file); give one with --data", run.dir));
    set.dataset = data::subset(p.test, p.test_indices);
    set.ids = p.test_indices;
    set.description = fmt::format("the test set of {} ({} samples)", file_name(p.test.source), set.ids.size());
  } else {
    if (!fs::exists(options.data)) throw Error(fmt::format("{}: no such file", options.data));
    if (is_idx(o)) {
      if (options.targets.empty())
        throw Error(fmt::format("{}: IDX images need their labels file (--labels FILE)", options.data));
      data::IdxOptions io{.num_classes = o.num_classes};
      if (!o.name.empty()) io.class_names = data::idx_class_names(o.name);
      set.dataset = data::load_idx(options.data, options.targets, io);
    } else {
      // Classes and categories come from the training file, so the file is encoded as training was.
      data::Dataset train = data::prepare(o).train;
      set.dataset = data::load_csv(options.data, csv_options(o), options.targets, &train);
    }
    set.ids.resize(static_cast<size_t>(set.dataset.size()));
    std::iota(set.ids.begin(), set.ids.end(), int64_t{0});
    set.description = fmt::format("{} ({} samples)", options.data, set.ids.size());
  }
  if (set.dataset.size() == 0) throw Error(fmt::format("{}: no samples to evaluate", set.description));
  flattens(run, set.dataset.sample_shape);  // throws on a shape the model cannot take
  set.raw_inputs = set.dataset.inputs.clone();
  if (run.standardizer.num_features() > 0) {
    const int64_t f = shape_numel(set.dataset.sample_shape);
    if (f != run.standardizer.num_features())
      throw Error(fmt::format("{}: {} features per sample, but the run's standardization has {}", set.description, f,
                              run.standardizer.num_features()));
    run.standardizer.apply(set.dataset);
  }
  return set;
}

data::Loader eval_loader(const LoadedRun& run, const EvalSet& set, int64_t batch_size, bool raw) {
  data::LoaderOptions lo{.batch_size = batch_size,
                         .shuffle = false,
                         .seed = 0,
                         .drop_last = false,
                         .dtype = run.config.train.dtype,
                         .flatten = flattens(run, set.dataset.sample_shape)};
  lo.scale = run.config.data.extra.get_double("scale", lo.scale);  // as training scaled images
  data::Dataset d = set.dataset;  // shares the tensors
  if (raw) d.inputs = set.raw_inputs;
  return data::Loader(d, lo);
}

Tensor predict_run(const LoadedRun& run, const EvalSet& set, double* loss) {
  std::unique_ptr<loss::Loss> loss_fn = loss::make_loss(run.config.loss);
  data::Loader loader = eval_loader(run, set);
  run.model->eval();
  NoGradGuard no_grad;
  std::vector<double> values;
  int64_t width = 0, count = 0;
  double loss_sum = 0.0;
  data::Batch b;
  while (loader.next(b)) {
    Tensor out = (*run.model)(b.x);
    const int64_t n = b.x.size(0);
    if (out.dim() != 2 || out.size(0) != n)
      throw Error(fmt::format("{}: the model's output {} is not one row per sample", run.dir, out.shape_str()));
    width = out.size(1);
    loss_sum += (*loss_fn)(out, b.y).item() * static_cast<double>(n);
    std::vector<double> v = out.to_vector();
    values.insert(values.end(), v.begin(), v.end());
    count += n;
  }
  if (loss) *loss = count ? loss_sum / static_cast<double>(count) : NAN;
  Tensor out = zeros({count, width}, DType::F64);
  std::copy(values.begin(), values.end(), out.data<double>());
  return out;
}

EvalReport eval_report(const EvalSet& set, const Tensor& outputs, double loss) {
  const data::Dataset& d = set.dataset;
  EvalReport r;
  r.task = d.task;
  r.count = outputs.size(0);
  r.loss = loss;
  r.accuracy = NAN;
  MetricAccumulator acc(d.task);
  acc.add(outputs, d.targets);
  r.metrics = acc.compute();
  if (d.task == data::Task::Regression) {
    r.target_names = d.target_names;
    return r;
  }
  r.accuracy = r.metrics.count("acc") ? r.metrics["acc"] : NAN;
  r.metrics.erase("acc");
  const auto k = static_cast<size_t>(std::max<int64_t>(d.num_classes, 2));
  r.class_names = d.class_names;
  for (size_t c = r.class_names.size(); c < k; ++c) r.class_names.push_back(std::to_string(c));
  r.confusion.assign(k, std::vector<int64_t>(k, 0));
  const std::vector<double> out = outputs.to_vector();
  const int64_t* t = d.targets.data<int64_t>();
  const auto width = static_cast<size_t>(outputs.size(1));
  for (size_t i = 0; i < static_cast<size_t>(r.count); ++i) {
    size_t pred = 0;
    if (d.task == data::Task::Binary) {
      pred = out[i * width] > 0 ? 1 : 0;  // the logit: > 0 means class 1
    } else {
      for (size_t j = 1; j < width; ++j)
        if (out[i * width + j] > out[i * width + pred]) pred = j;  // first maximum, as argmax
    }
    const auto truth = static_cast<size_t>(t[i]);
    if (truth < k && pred < k) r.confusion[truth][pred]++;
  }
  for (size_t c = 0; c < k; ++c) {
    const int64_t n = std::accumulate(r.confusion[c].begin(), r.confusion[c].end(), int64_t{0});
    r.per_class_accuracy.push_back(n ? static_cast<double>(r.confusion[c][c]) / static_cast<double>(n) : NAN);
  }
  return r;
}

std::string eval_json(const EvalReport& r) {
  json j = {{"task", data::task_name(r.task)}, {"count", r.count}, {"loss", number(r.loss)}};
  if (r.task == data::Task::Regression) {
    j["accuracy"] = nullptr;
    j["target_names"] = r.target_names;
  } else {
    j["accuracy"] = number(r.accuracy);
    j["class_names"] = r.class_names;
    json per = json::array();
    for (double v : r.per_class_accuracy) per.push_back(number(v));
    j["per_class_accuracy"] = per;
    j["confusion"] = r.confusion;
  }
  for (const auto& [k, v] : r.metrics) j[k] = number(v);
  return j.dump(2) + "\n";
}

std::string eval_table(const EvalReport& r) {
  auto num = [](double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : std::string("-"); };
  std::string s = fmt::format("{} samples ({})\nloss      {}\n", r.count, data::task_name(r.task), num(r.loss));
  if (r.task == data::Task::Regression) {
    for (const char* k : {"rmse", "mae", "r2"})
      if (r.metrics.count(k)) s += fmt::format("{:<9} {}\n", k == std::string("r2") ? "R²" : k, num(r.metrics.at(k)));
    if (r.target_names.size() > 1) s += fmt::format("targets   {}\n", fmt::join(r.target_names, ", "));
    return s;
  }
  s += fmt::format("accuracy  {}\n", num(r.accuracy));
  if (r.metrics.count("auc")) s += fmt::format("AUC       {}\n", num(r.metrics.at("auc")));
  size_t w = 5;  // width of the class-name column
  for (const auto& n : r.class_names) w = std::max(w, n.size());
  w = std::min<size_t>(w, 24);
  s += fmt::format("\n{:<{}}  {:>8}  {:>7}\n", "class", w, "accuracy", "samples");
  for (size_t c = 0; c < r.class_names.size(); ++c) {
    const int64_t n = std::accumulate(r.confusion[c].begin(), r.confusion[c].end(), int64_t{0});
    s += fmt::format("{:<{}}  {:>8}  {:>7}\n", r.class_names[c].substr(0, w), w, num(r.per_class_accuracy[c]), n);
  }
  s += fmt::format("\nconfusion matrix (rows: true class, columns: predicted)\n{:<{}}", "", w);
  int64_t cell = 3;
  for (const auto& row : r.confusion)
    for (int64_t v : row) cell = std::max<int64_t>(cell, static_cast<int64_t>(std::to_string(v).size()));
  for (size_t c = 0; c < r.confusion.size(); ++c) s += fmt::format("  {:>{}}", c, cell);
  s += "\n";
  for (size_t c = 0; c < r.confusion.size(); ++c) {
    s += fmt::format("{:<{}}", r.class_names[c].substr(0, w), w);
    for (int64_t v : r.confusion[c]) s += fmt::format("  {:>{}}", v, cell);
    s += "\n";
  }
  if (r.class_names.size() == r.confusion.size()) {
    std::vector<std::string> legend;
    for (size_t c = 0; c < r.class_names.size(); ++c)
      if (r.class_names[c] != std::to_string(c)) legend.push_back(fmt::format("{} = {}", c, r.class_names[c]));
    if (!legend.empty()) s += fmt::format("columns: {}\n", fmt::join(legend, ", "));
  }
  return s;
}

std::string predictions_csv(const EvalSet& set, const Tensor& outputs) {
  const data::Dataset& d = set.dataset;
  const auto n = static_cast<size_t>(outputs.size(0)), width = static_cast<size_t>(outputs.size(1));
  std::vector<std::string> header{"index"};
  const bool classes = d.task != data::Task::Regression;
  if (classes) header.push_back("predicted");
  for (size_t j = 0; j < width; ++j) {
    std::string name = fmt::format("output_{}", j);
    if (d.task == data::Task::Classification && j < d.class_names.size()) name = d.class_names[j];
    if (d.task == data::Task::Binary) name = "logit";
    if (d.task == data::Task::Regression && j < d.target_names.size()) name = d.target_names[j];
    header.push_back(csv_field(name));
  }
  std::string s = fmt::format("{}\n", fmt::join(header, ","));
  const std::vector<double> out = outputs.to_vector();
  auto class_name = [&](size_t c) { return c < d.class_names.size() ? d.class_names[c] : std::to_string(c); };
  for (size_t i = 0; i < n; ++i) {
    const double* row = out.data() + i * width;
    s += std::to_string(set.ids[i]);
    if (classes) {
      size_t pred = 0;
      if (d.task == data::Task::Binary) pred = row[0] > 0 ? 1 : 0;
      else
        for (size_t j = 1; j < width; ++j)
          if (row[j] > row[pred]) pred = j;
      s += ',';
      s += csv_field(class_name(pred));
    }
    for (size_t j = 0; j < width; ++j) s += fmt::format(",{}", row[j]);  // shortest text that reads back the same double
    s += "\n";
  }
  return s;
}

}  // namespace descent::train

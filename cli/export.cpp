// `descent export RUN_DIR [--format onnx|safetensors] [--out FILE] [--from final|latest|best] [--opset N]
//                        [--reference FILE]`
//
// Rebuilds the run's model from RUN_DIR/config.toml, loads its weights (final.safetensors, or a
// checkpoint) and writes them out: an ONNX graph of the model in eval mode, or a safetensors file
// with torch nn.Sequential names (useful for the best checkpoint's weights). --reference also
// writes one batch of test samples as the model sees them ("input": scaled, flattened as in
// training) and descent's eval-mode outputs for it ("output"), to check the exported model in
// another runtime (scripts/check_onnx.py, scripts/check_torch_load.py).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "descent/autograd.h"
#include "descent/config.h"
#include "descent/io.h"
#include "descent/nn.h"
#include "descent/train.h"

namespace descent::cli {

namespace {

namespace fs = std::filesystem;

// The model weights of a checkpoint ("model." tensors, prefix removed).
nn::NamedTensors model_tensors(const io::LoadedCheckpoint& c) {
  nn::NamedTensors out;
  for (const auto& [name, t] : c.tensors)
    if (name.rfind("model.", 0) == 0) out.emplace_back(name.substr(6), t);
  return out;
}

// Weights to export and a description of where they came from.
std::pair<nn::NamedTensors, std::string> weights_of(const std::string& run, const std::string& from) {
  const std::string final_path = (fs::path(run) / "final.safetensors").string();
  io::CheckpointStore store((fs::path(run) / "checkpoints").string());
  if (from == "final") {
    if (fs::exists(final_path)) return {io::load_safetensors(final_path).tensors, final_path};
    throw Error(fmt::format("{}: missing (the run did not finish?); use --from latest or --from best", final_path));
  }
  std::vector<std::string> skipped;
  std::optional<io::LoadedCheckpoint> newest = store.load_newest(&skipped);
  for (const auto& s : skipped) fmt::print(stderr, "warning: skipped {}\n", s);
  if (!newest) throw Error(fmt::format("{}: no valid checkpoint", store.dir()));
  if (from == "latest") return {model_tensors(*newest), fmt::format("{}/{}.json", store.dir(), newest->id.name())};
  const nlohmann::json state = nlohmann::json::parse(newest->state_json);
  if (!state.contains("best") || !state["best"].is_object())
    throw Error(fmt::format("{}: no best checkpoint recorded (every_epochs = 0?)", store.dir()));
  auto id = io::CheckpointId::parse(state["best"].value("name", ""));
  if (!id) throw Error(fmt::format("{}: the best checkpoint's name is malformed", store.dir()));
  return {model_tensors(store.load(*id)), fmt::format("{}/{}.json ({} = {})", store.dir(), id->name(),
                                                       state["best"].value("metric", ""), state["best"]["value"].dump())};
}

// The first test batch (else the first training batch) and the model's eval-mode outputs for it.
void write_reference(const Config& cfg, const nn::NamedTensors& weights, const std::string& source, const std::string& path) {
  Config c = cfg;
  c.model.init_from.clear();  // the weights come from the run, not from where it started
  train::Trainer trainer(c);  // builds model and loaders exactly as training did; writes nothing
  io::load_state_dict(trainer.model(), weights, source);
  data::Loader& loader = trainer.test_loader() ? *trainer.test_loader() : trainer.train_loader();
  loader.start_epoch(0);
  data::Batch b;
  if (!loader.next(b)) throw Error(fmt::format("{}: the data set is empty", cfg.source));
  trainer.model().eval();
  NoGradGuard no_grad;
  Tensor y = trainer.model()(b.x);
  io::save_safetensors(path, {{"input", b.x.to(DType::F32)}, {"output", y.to(DType::F32)}});
  fmt::print("wrote {} (input {}, output {})\n", path, b.x.shape_str(), y.shape_str());
}

}  // namespace

void register_export(CLI::App& app) {
  struct Opts {
    std::string run, format = "onnx", out, from = "final", reference;
    int64_t opset = 13;
  };
  auto opts = std::make_shared<Opts>();
  CLI::App* cmd = app.add_subcommand("export", "Write a trained run's model as ONNX or safetensors");
  cmd->add_option("run_dir", opts->run, "Run folder of `descent train`")->required();
  cmd->add_option("--format", opts->format, "onnx (default) or safetensors")->check(CLI::IsMember({"onnx", "safetensors"}));
  cmd->add_option("--out", opts->out, "Output file (default RUN_DIR/model.onnx or RUN_DIR/model.safetensors)");
  cmd->add_option("--from", opts->from, "Weights: final (final.safetensors, default), latest or best checkpoint")
      ->check(CLI::IsMember({"final", "latest", "best"}));
  cmd->add_option("--opset", opts->opset, "ONNX opset version (>= 13)");
  cmd->add_option("--reference", opts->reference,
                  "Also write a safetensors file with a test batch (\"input\") and descent's outputs (\"output\")");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      const std::string cfg_path = (fs::path(opts->run) / "config.toml").string();
      if (!fs::exists(cfg_path)) throw Error(fmt::format("{}: no config.toml: not a descent run folder", opts->run));
      Config cfg = load_config(cfg_path);
      auto [weights, source] = weights_of(opts->run, opts->from);
      std::shared_ptr<nn::Sequential> model = nn::build_model(cfg.model, cfg.train.dtype, cfg.train.seed);
      io::load_state_dict(*model, weights, source);
      const std::string out =
          !opts->out.empty() ? opts->out : (fs::path(opts->run) / (opts->format == "onnx" ? "model.onnx" : "model.safetensors")).string();
      if (opts->format == "onnx") {
        io::export_onnx(*model, cfg.model.input_shape, out, {.opset = opts->opset});
        fmt::print("wrote {} (opset {}, input [N, {}] float32, weights from {})\n", out, opts->opset,
                   fmt::join(cfg.model.input_shape, ", "), source);
      } else {
        io::save_safetensors(out, model->state_dict(), {{"format", "pt"}});
        fmt::print("wrote {} ({} tensors from {})\n", out, model->state_dict().size(), source);
      }
      if (!opts->reference.empty()) write_reference(cfg, weights, source, opts->reference);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

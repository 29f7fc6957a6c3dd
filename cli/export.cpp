// `descent export RUN_DIR [--format onnx|safetensors] [--out FILE] [--from final|latest|best] [--opset N]
//                        [--reference FILE]`
//
// Rebuilds the run's model from RUN_DIR/config.toml, loads its weights (final.safetensors, or a
// checkpoint) and writes them out: an ONNX graph of the model in eval mode — preceded by the run's
// standardization (Sub, Div) when it standardized its features, so the graph takes raw features —
// or a safetensors file with torch nn.Sequential names (useful for the best checkpoint's weights).
// --reference also writes the first test samples (up to 1000) and descent's eval-mode outputs for
// them, to check the exported model in another runtime (scripts/check_onnx.py,
// scripts/check_torch_load.py): "input" as the ONNX graph takes it (raw features; images scaled and
// flattened as in training), "model_input" as the nn.Sequential takes it (standardized), "output".
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "descent/autograd.h"
#include "descent/config.h"
#include "descent/io.h"
#include "descent/nn.h"
#include "descent/train.h"

namespace descent::cli {

namespace {

namespace fs = std::filesystem;

void write_reference(const train::LoadedRun& run, const std::string& path) {
  train::EvalSet set = train::eval_set(run);
  data::Loader model_in = train::eval_loader(run, set, 1000), raw_in = train::eval_loader(run, set, 1000, true);
  data::Batch b, raw;
  if (!model_in.next(b) || !raw_in.next(raw)) throw Error(fmt::format("{}: the data set is empty", run.dir));
  NoGradGuard no_grad;
  Tensor y = (*run.model)(b.x);
  io::save_safetensors(path, {{"input", raw.x.to(DType::F32)}, {"model_input", b.x.to(DType::F32)}, {"output", y.to(DType::F32)}});
  fmt::print("wrote {} (input {}, output {}; {})\n", path, raw.x.shape_str(), y.shape_str(), set.description);
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
                  "Also write a safetensors file with test samples (\"input\", \"model_input\") and descent's outputs (\"output\")");
  cmd->callback([opts]() {
    int code = guarded([&]() {
      train::LoadedRun run = train::load_run(opts->run, opts->from);
      for (const auto& w : run.warnings) fmt::print(stderr, "warning: {}\n", w);
      const std::string out =
          !opts->out.empty() ? opts->out : (fs::path(opts->run) / (opts->format == "onnx" ? "model.onnx" : "model.safetensors")).string();
      const data::Standardizer& st = run.standardizer;
      if (opts->format == "onnx") {
        io::OnnxOptions o{.opset = opts->opset};
        if (st.scaling() != data::Scaling::None) o.input_shift = st.shift(), o.input_scale = st.scale();
        io::export_onnx(*run.model, run.config.model.input_shape, out, o);
        fmt::print("wrote {} (opset {}, input [N, {}] float32{}, weights from {})\n", out, opts->opset,
                   fmt::join(run.config.model.input_shape, ", "),
                   o.input_shift.empty() ? "" : fmt::format(", raw features standardized in the graph ({})",
                                                            data::scaling_name(st.scaling())),
                   run.weights_source);
      } else {
        io::save_safetensors(out, run.model->state_dict(), train::weights_metadata(st));
        fmt::print("wrote {} ({} tensors from {})\n", out, run.model->state_dict().size(), run.weights_source);
      }
      if (!opts->reference.empty()) write_reference(run, opts->reference);
      return 0;
    });
    if (code != 0) std::exit(code);
  });
}

}  // namespace descent::cli

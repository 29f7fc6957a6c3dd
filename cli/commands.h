// The subcommands of the `descent` CLI: each file cli/<command>.cpp registers one.
#pragma once
#include <CLI/CLI.hpp>

namespace descent::cli {

/// `descent train CONFIG [--set k=v ...] [--out DIR]`.
void register_train(CLI::App& app);
/// `descent tune STUDY.toml [--jobs N] [--out DIR] [--resume]`.
void register_tune(CLI::App& app);
/// `descent export RUN_DIR [--format onnx|safetensors] [--out FILE] [--from final|latest|best]`.
void register_export(CLI::App& app);
/// `descent eval RUN_DIR [--data FILE [--labels FILE]] [--from final|latest|best] [--json]`.
void register_eval(CLI::App& app);
/// `descent predict RUN_DIR [--data FILE [--labels FILE]] [--from final|latest|best] --out FILE.csv`.
void register_predict(CLI::App& app);
/// `descent schedule CONFIG [--steps N] [--set k=v ...] [--svg FILE]`.
void register_schedule(CLI::App& app);
/// `descent lr-find CONFIG [--start LR] [--end LR] [--steps N] [--out DIR] [--apply FILE]`.
void register_lr_find(CLI::App& app);

/// `descent gradcheck CONFIG [--samples K] [--batch B]`.
void register_gradcheck(CLI::App& app);
/// `descent init-check CONFIG [--init NAME ...] [--batch B] [--out DIR]`.
void register_init_check(CLI::App& app);
/// `descent report RUN_DIR [--out FILE]`.
void register_report(CLI::App& app);
/// `descent summary CONFIG [--set k=v ...]`.
void register_summary(CLI::App& app);

/// Runs `body`, mapping descent::Error to "error: ..." and exit code 2, anything else to 1.
int guarded(const std::function<int()>& body);

}  // namespace descent::cli

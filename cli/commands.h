// The subcommands of the `descent` CLI: each file cli/<command>.cpp registers one.
#pragma once
#include <CLI/CLI.hpp>

namespace descent::cli {

/// `descent train CONFIG [--set k=v ...] [--out DIR]`.
void register_train(CLI::App& app);
/// `descent tune STUDY.toml [--jobs N] [--out DIR] [--resume]`.
void register_tune(CLI::App& app);
/// `descent schedule CONFIG [--steps N] [--set k=v ...] [--svg FILE]`.
void register_schedule(CLI::App& app);
/// `descent lr-find CONFIG [--start LR] [--end LR] [--steps N] [--out DIR] [--apply FILE]`.
void register_lr_find(CLI::App& app);

/// Runs `body`, mapping descent::Error to "error: ..." and exit code 2, anything else to 1.
int guarded(const std::function<int()>& body);

}  // namespace descent::cli

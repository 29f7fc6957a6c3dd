#!/usr/bin/env python3
"""Writes tests/data/sched_reference.json: learning rates that PyTorch itself produces, against
which tests/sched_test.cpp checks descent's schedules (relative tolerance 1e-12, in float64).

Each case is a [schedule] table exactly as a descent config would hold it (PyTorch's argument
names); this script builds the matching torch.optim.lr_scheduler objects, steps them the way a
training loop does and records the optimizer's lr (and momentum) before every step.

    scheduler unit u = optimizer step (granularity "step") or epoch (granularity "epoch")
    for each unit u:  record lr  ->  optimizer.step()  ->  scheduler.step()
                      at an epoch end: ReduceLROnPlateau.step(metrics[epoch])

A warm-up followed by a main schedule is PyTorch's SequentialLR([LinearLR, main], [total_iters]),
the semantics descent documents. A plateau on top of a main schedule is both schedulers stepping
the same optimizer; this equals descent's "plateau multiplier" for chainable (multiplicative)
main schedules, which is what the *_plateau cases use.

Run with Debian's PyTorch (apt-get install python3-torch):
    /usr/bin/python3 scripts/gen_sched_reference.py
Add a case by appending to CASES and re-running; the C++ test picks up every case by name.
"""
import json
import random
import warnings
from pathlib import Path

import torch
from torch.optim import lr_scheduler as S

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "sched_reference.json"


def plateau_metrics(n, seed, mode="min"):
    """A validation curve that improves, stalls (with sub-threshold wiggles) and improves again."""
    rng = random.Random(seed)
    value, out = 1.0, []
    for e in range(n):
        stalled = (e // 6) % 2 == 1
        value *= 1.0 - (0.00002 * rng.random() if stalled else 0.05 + 0.1 * rng.random())
        out.append(value if mode == "min" else 1.0 - value)
    return out


CASES = [
    dict(name="constant_default", base_lr=0.1, units=30, schedule={"main": {"type": "constant"}}),
    dict(name="constant_factor", base_lr=0.1, units=20,
         schedule={"main": {"type": "constant", "factor": 0.5, "total_iters": 4}}),
    dict(name="step_7", base_lr=0.1, units=300, schedule={"main": {"type": "step", "step_size": 7, "gamma": 0.5}}),
    dict(name="step_default_gamma", base_lr=0.05, units=200, schedule={"main": {"type": "step", "step_size": 30}}),
    dict(name="multistep_repeated", base_lr=0.1, units=200,
         schedule={"main": {"type": "multistep", "milestones": [30, 80, 80, 150], "gamma": 0.5}}),
    dict(name="multistep_at_zero", base_lr=0.1, units=20,
         schedule={"main": {"type": "multistep", "milestones": [0, 10]}}),
    dict(name="exponential", base_lr=0.1, units=300, schedule={"main": {"type": "exponential", "gamma": 0.99}}),
    dict(name="polynomial_default", base_lr=0.001, units=10, schedule={"main": {"type": "polynomial"}}),
    dict(name="polynomial_square", base_lr=0.1, units=300,
         schedule={"main": {"type": "polynomial", "total_iters": 200, "power": 2.0}}),
    dict(name="polynomial_sqrt", base_lr=0.1, units=200,
         schedule={"main": {"type": "polynomial", "total_iters": 150, "power": 0.5}}),
    dict(name="linear_decay", base_lr=0.1, units=250,
         schedule={"main": {"type": "linear", "start_factor": 1.0, "end_factor": 0.0, "total_iters": 200}}),
    dict(name="linear_partial", base_lr=0.02, units=150,
         schedule={"main": {"type": "linear", "start_factor": 0.8, "end_factor": 0.2, "total_iters": 100}}),
    dict(name="cosine_past_t_max", base_lr=0.1, units=300, schedule={"main": {"type": "cosine", "T_max": 100}}),
    dict(name="cosine_eta_min", base_lr=0.1, units=250,
         schedule={"main": {"type": "cosine", "T_max": 250, "eta_min": 1e-4}}),
    dict(name="warm_restarts_mult2", base_lr=0.1, units=300,
         schedule={"main": {"type": "cosine_warm_restarts", "T_0": 10, "T_mult": 2, "eta_min": 1e-5}}),
    dict(name="warm_restarts_mult1", base_lr=0.05, units=200,
         schedule={"main": {"type": "cosine_warm_restarts", "T_0": 25}}),
    dict(name="one_cycle_cos", base_lr=0.01, units=300,
         schedule={"main": {"type": "one_cycle", "max_lr": 0.1, "total_steps": 300}}),
    dict(name="one_cycle_linear", base_lr=0.01, units=257,
         schedule={"main": {"type": "one_cycle", "max_lr": 0.3, "total_steps": 257, "pct_start": 0.25,
                            "anneal_strategy": "linear", "div_factor": 10.0, "final_div_factor": 100.0,
                            "base_momentum": 0.8, "max_momentum": 0.9}}),
    dict(name="one_cycle_base_lr_peak", base_lr=0.05, units=101,
         schedule={"main": {"type": "one_cycle", "total_steps": 101, "pct_start": 0.4, "cycle_momentum": False}}),
    dict(name="one_cycle_short", base_lr=0.01, units=10,
         schedule={"main": {"type": "one_cycle", "max_lr": 1.0, "total_steps": 10, "pct_start": 0.35}}),
    dict(name="warmup_only", base_lr=0.1, units=100,
         schedule={"warmup": {"start_factor": 0.1, "total_iters": 50}}),
    dict(name="warmup_cosine", base_lr=0.1, units=200,
         schedule={"warmup": {"start_factor": 0.1, "total_iters": 20},
                   "main": {"type": "cosine", "T_max": 180, "eta_min": 1e-4}}),
    dict(name="warmup_multistep", base_lr=0.1, units=100,
         schedule={"warmup": {"start_factor": 0.25, "total_iters": 10},
                   "main": {"type": "multistep", "milestones": [30, 60], "gamma": 0.1}}),
    dict(name="warmup_end_factor_exponential", base_lr=0.1, units=60,
         schedule={"warmup": {"start_factor": 0.5, "end_factor": 0.9, "total_iters": 8},
                   "main": {"type": "exponential", "gamma": 0.95}}),
    dict(name="warmup_step_per_epoch", base_lr=0.1, units=30, steps_per_epoch=4,
         schedule={"granularity": "epoch", "warmup": {"start_factor": 0.2, "total_iters": 3},
                   "main": {"type": "step", "step_size": 5, "gamma": 0.5}}),
    dict(name="plateau_min_rel", base_lr=0.1, units=60, metrics=plateau_metrics(60, 1),
         schedule={"granularity": "epoch",
                   "plateau": {"factor": 0.5, "patience": 2, "cooldown": 1, "min_lr": 0.01}}),
    dict(name="plateau_max_abs", base_lr=0.1, units=30, metrics=plateau_metrics(30, 2, "max"),
         schedule={"granularity": "epoch",
                   "plateau": {"metric": "val_accuracy", "mode": "max", "threshold_mode": "abs", "threshold": 0.01,
                               "factor": 0.2, "patience": 0, "cooldown": 2}}),
    dict(name="plateau_eps_stops_cuts", base_lr=1e-7, units=12, metrics=[1.0] * 12,
         schedule={"granularity": "epoch",
                   "plateau": {"factor": 0.5, "patience": 0, "threshold": 0, "eps": 1e-8}}),
    dict(name="plateau_per_step", base_lr=0.1, units=100, steps_per_epoch=5, metrics=plateau_metrics(20, 3),
         schedule={"plateau": {"threshold_mode": "abs", "threshold": 0.05, "patience": 3, "factor": 0.3}}),
    dict(name="exponential_plateau", base_lr=0.1, units=40, steps_per_epoch=3, metrics=plateau_metrics(40, 4),
         schedule={"granularity": "epoch", "main": {"type": "exponential", "gamma": 0.9},
                   "plateau": {"factor": 0.5, "patience": 1, "min_lr": 0.03}}),
    dict(name="cosine_plateau", base_lr=0.1, units=40, steps_per_epoch=3, metrics=plateau_metrics(40, 5),
         schedule={"granularity": "epoch", "main": {"type": "cosine", "T_max": 40},
                   "plateau": {"factor": 0.5, "patience": 2, "cooldown": 2}}),
]


def make_main(opt, main, base_lr):
    """The PyTorch scheduler for a [schedule.main] table, with descent's defaults filled in."""
    a = {k: v for k, v in main.items() if k != "type"}
    t = main["type"]
    if t == "constant":
        return S.ConstantLR(opt, factor=a.get("factor", 1.0), total_iters=a.get("total_iters", 0))
    if t == "step":
        return S.StepLR(opt, step_size=a["step_size"], gamma=a.get("gamma", 0.1))
    if t == "multistep":
        return S.MultiStepLR(opt, milestones=a["milestones"], gamma=a.get("gamma", 0.1))
    if t == "exponential":
        return S.ExponentialLR(opt, gamma=a["gamma"])
    if t == "polynomial":
        return S.PolynomialLR(opt, total_iters=a.get("total_iters", 5), power=a.get("power", 1.0))
    if t == "linear":
        return S.LinearLR(opt, start_factor=a.get("start_factor", 1 / 3), end_factor=a.get("end_factor", 1.0),
                          total_iters=a.get("total_iters", 5))
    if t == "cosine":
        return S.CosineAnnealingLR(opt, T_max=a["T_max"], eta_min=a.get("eta_min", 0.0))
    if t == "cosine_warm_restarts":
        return S.CosineAnnealingWarmRestarts(opt, T_0=a["T_0"], T_mult=a.get("T_mult", 1),
                                             eta_min=a.get("eta_min", 0.0))
    if t == "one_cycle":
        return S.OneCycleLR(opt, max_lr=a.get("max_lr", base_lr), total_steps=a["total_steps"],
                            pct_start=a.get("pct_start", 0.3), anneal_strategy=a.get("anneal_strategy", "cos"),
                            cycle_momentum=a.get("cycle_momentum", True),
                            base_momentum=a.get("base_momentum", 0.85), max_momentum=a.get("max_momentum", 0.95),
                            div_factor=a.get("div_factor", 25.0), final_div_factor=a.get("final_div_factor", 1e4))
    raise ValueError(f"unknown main type {t}")


def run(case):
    sched = case["schedule"]
    base_lr = case["base_lr"]
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([param], lr=base_lr, momentum=0.9)

    stepped = None
    if "warmup" in sched:
        w = sched["warmup"]
        warmup = S.LinearLR(opt, start_factor=w.get("start_factor", 1 / 3), end_factor=w.get("end_factor", 1.0),
                            total_iters=w["total_iters"])
        main = make_main(opt, sched.get("main", {"type": "constant"}), base_lr)
        stepped = S.SequentialLR(opt, [warmup, main], milestones=[w["total_iters"]])
    elif "main" in sched:
        stepped = make_main(opt, sched["main"], base_lr)

    plateau = None
    if "plateau" in sched:
        p = sched["plateau"]
        plateau = S.ReduceLROnPlateau(opt, mode=p.get("mode", "min"), factor=p.get("factor", 0.1),
                                      patience=p.get("patience", 10), threshold=p.get("threshold", 1e-4),
                                      threshold_mode=p.get("threshold_mode", "rel"), cooldown=p.get("cooldown", 0),
                                      min_lr=p.get("min_lr", 0.0), eps=p.get("eps", 1e-8))

    cycled = sched.get("main", {}).get("type") == "one_cycle" and sched["main"].get("cycle_momentum", True)
    per_epoch = sched.get("granularity", "step") == "epoch"
    units_per_epoch = 1 if per_epoch else case.get("steps_per_epoch", 1)
    group = opt.param_groups[0]
    lrs, moms = [], []
    for u in range(case["units"]):
        lrs.append(group["lr"])
        if cycled:
            moms.append(group["momentum"])
        opt.step()
        if stepped is not None:
            stepped.step()
        if plateau is not None and (u + 1) % units_per_epoch == 0:
            plateau.step(case["metrics"][(u + 1) // units_per_epoch - 1])

    out = {k: case[k] for k in ("name", "base_lr", "units", "schedule")}
    out["steps_per_epoch"] = case.get("steps_per_epoch", 1)
    if "metrics" in case:
        out["metrics"] = case["metrics"]
    out["lr"] = lrs
    if cycled:
        out["momentum"] = moms
    return out


def main():
    warnings.filterwarnings("ignore")  # SequentialLR's step(0) warns about the deprecated epoch argument
    torch.set_default_dtype(torch.float64)
    cases = [run(c) for c in CASES]
    # One case per line: diffs stay readable when a case is added or PyTorch changes.
    lines = ",\n".join(json.dumps(c) for c in cases)
    OUT.write_text('{"generator": "scripts/gen_sched_reference.py", '
                   f'"torch_version": "{torch.__version__}",\n"cases": [\n{lines}\n]}}\n')
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()

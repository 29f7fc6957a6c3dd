#!/usr/bin/python3
"""Writes tests/data/hpo/optuna_pruning.json: Optuna's pruning decisions on scripted curves.

The hpo tests replay the same events through descent's MedianPruner and AshaPruner and expect
the same decision after every report. Run with Debian's python3-optuna (3.1):

    /usr/bin/python3 scripts/hpo_optuna_reference.py > tests/data/hpo/optuna_pruning.json
"""
import json
import math
import random
import warnings

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
warnings.filterwarnings("ignore", message="The value nan is not acceptable")  # a NaN final value: FAIL, as intended

N_STEPS = 9


def curves(rng, n_trials, nan_rate):
    """value(step) = level + slope / step + noise; a few NaN reports."""
    out = []
    for _ in range(n_trials):
        level, slope = rng.uniform(0.0, 1.0), rng.uniform(0.0, 2.0)
        curve = []
        for step in range(1, N_STEPS + 1):
            v = level + slope / step + rng.gauss(0.0, 0.05)
            curve.append(float("nan") if rng.random() < nan_rate else round(v, 6))
        out.append(curve)
    return out


def run(name, pruner, options, direction, n_trials, concurrency, seed, nan_rate=0.0):
    rng = random.Random(seed)
    values = curves(rng, n_trials, nan_rate)
    study = optuna.create_study(direction=direction, pruner=pruner(**options))
    events, waiting, active = [], list(range(n_trials)), {}
    while waiting or active:
        while waiting and len(active) < concurrency:
            i = waiting.pop(0)
            active[i] = (study.ask(), 0)
        i = rng.choice(sorted(active))
        trial, reported = active[i]
        step = reported + 1
        value = values[i][step - 1]
        trial.report(value, step)
        pruned = bool(trial.should_prune())
        events.append([i, step, None if math.isnan(value) else value, pruned])
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            del active[i]
        elif step == N_STEPS:
            study.tell(trial, value)  # a NaN final value makes the trial FAIL, as in descent
            del active[i]
        else:
            active[i] = (trial, step)
    return {"name": name, "pruner": pruner.__name__, "options": options, "direction": direction,
            "n_steps": N_STEPS, "events": events}


def main():
    median, asha = optuna.pruners.MedianPruner, optuna.pruners.SuccessiveHalvingPruner
    cases = [
        run("median_default_sequential", median, {}, "minimize", 20, 1, 1),
        run("median_warmup_interval_max", median,
            {"n_startup_trials": 2, "n_warmup_steps": 2, "interval_steps": 2}, "maximize", 20, 1, 2, 0.05),
        run("median_concurrent", median, {"n_startup_trials": 3, "n_min_trials": 2}, "minimize", 24, 3, 3),
        run("asha_eta2_sequential", asha, {"min_resource": 1, "reduction_factor": 2}, "minimize", 20, 1, 4),
        run("asha_eta3_rate1_concurrent_max", asha,
            {"min_resource": 1, "reduction_factor": 3, "min_early_stopping_rate": 1}, "maximize", 30, 3, 5, 0.03),
        run("asha_bootstrap", asha, {"min_resource": 2, "reduction_factor": 2, "bootstrap_count": 2},
            "minimize", 20, 2, 6),
    ]
    print(json.dumps({"generator": "scripts/hpo_optuna_reference.py", "optuna": optuna.__version__,
                      "cases": cases}, indent=None, separators=(",", ":")))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""The Optuna peer of bench/hpo_synthetic.sh: Debian's python3-optuna TPE on the same functions.

Each trial runs the same bench program as descent's trials (hpo_objective, one process per
trial) and reads its last line, so both sides see exactly the same objective and budget.
Optuna's TPESampler with its defaults (univariate, 10 random startup trials, 24 EI candidates).

Usage: /usr/bin/python3 bench/hpo_synthetic_optuna.py OBJECTIVE_PROGRAM SEEDS TRIALS
Prints one line per run: FUNCTION optuna-tpe SEED BEST_VALUE
"""
import subprocess
import sys

import optuna

SPACES = {
    "branin": [("x1", -5.0, 10.0), ("x2", 0.0, 15.0)],
    "hartmann6": [(f"x{i}", 0.0, 1.0) for i in range(1, 7)],
}


def main():
    program, seeds, trials = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for function, space in SPACES.items():
        for seed in range(seeds):
            def objective(trial):
                xs = [trial.suggest_float(name, low, high) for name, low, high in space]
                out = subprocess.run([program, function] + [repr(x) for x in xs], check=True,
                                     capture_output=True, text=True).stdout
                return float(out.strip().splitlines()[-1])

            study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
            study.optimize(objective, n_trials=trials)
            print(f"{function} optuna-tpe {seed} {study.best_value:.10g}", flush=True)


if __name__ == "__main__":
    main()

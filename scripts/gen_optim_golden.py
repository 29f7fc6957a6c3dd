#!/usr/bin/env python3
"""Writes tests/golden/optim/*.json: parameter trajectories that torch.optim itself produces, against
which tests/optim_test.cpp checks descent's optimizers (relative tolerance 1e-6, float64).

The problem is a two-layer linear network (no activation, so the gradients are polynomials the C++
test writes out by hand) on fixed data, float64 throughout:

    H = X W1^T + b1        out = H W2^T + b2        loss = 0.5 / N * sum((out - Y)^2)

with parameters named as descent's Sequential(Linear(3, 4), Linear(4, 2)) names them: "0.weight",
"0.bias", "1.weight", "1.bias". problem.json holds X, Y and the initial parameters; each family file
holds cases:

    name        unique test name
    config      descent's [optimizer] table (what make_optimizer reads)
    torch       the torch.optim class, its keyword arguments and its param_groups by parameter name
                (written out here by hand, independently of descent's grouping code)
    schedule    optional: "cosine" multiplies every group's initial lr by 0.5 (1 + cos(pi t / steps))
                before step t, as torch's LambdaLR does (descent: set_lr(lr * factor))
    trajectory  the parameters after step s for s = 0, record_every, 2 record_every, ..., steps

Run with Debian's PyTorch (apt-get install python3-torch), not a virtualenv's:
    /usr/bin/python3 scripts/gen_optim_golden.py
Add a case by appending to CASES and re-running; the C++ test runs every case of every file.
"""
import json
import math
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "optim"
STEPS, RECORD_EVERY = 50, 5
NAMES = ["0.weight", "0.bias", "1.weight", "1.bias"]
SHAPES = {"0.weight": (4, 3), "0.bias": (4,), "1.weight": (2, 4), "1.bias": (2,)}
WEIGHTS = ["0.weight", "1.weight"]
BIASES = ["0.bias", "1.bias"]


def problem():
    """Fixed, irregular data: values from a small linear congruential sequence in [-1, 1)."""
    state = [12345]

    def nxt():
        state[0] = (1103515245 * state[0] + 12345) % 2**31
        return state[0] / 2**30 - 1.0

    def tensor(*shape):
        n = math.prod(shape)
        return torch.tensor([nxt() for _ in range(n)], dtype=torch.float64).reshape(shape)

    x, y = tensor(8, 3), tensor(8, 2)
    params = {name: tensor(*SHAPES[name]) * 0.5 for name in NAMES}
    return x, y, params


def loss_fn(p, x, y):
    h = x @ p["0.weight"].T + p["0.bias"]
    out = h @ p["1.weight"].T + p["1.bias"]
    return 0.5 / x.shape[0] * ((out - y) ** 2).sum()


def one_group(**kw):
    return [dict(params=NAMES, **kw)]


def weights_and_biases(**kw):
    """descent's default no_decay (biases and 1-d parameters): biases in a group without decay."""
    return [dict(params=WEIGHTS, **kw), dict(params=BIASES, **{**kw, "weight_decay": 0.0})]


CASES = {
    "sgd": [
        dict(name="sgd_plain", config=dict(type="sgd", lr=0.05, no_decay=[]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05), groups=one_group())),
        dict(name="sgd_momentum", config=dict(type="sgd", lr=0.05, momentum=0.9, no_decay=[]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05, momentum=0.9), groups=one_group())),
        dict(name="sgd_nesterov", config=dict(type="sgd", lr=0.05, momentum=0.9, nesterov=True, no_decay=[]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05, momentum=0.9, nesterov=True), groups=one_group())),
        dict(name="sgd_weight_decay", config=dict(type="sgd", lr=0.05, momentum=0.5, weight_decay=0.1, no_decay=[]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05, momentum=0.5, weight_decay=0.1), groups=one_group())),
        dict(name="sgd_dampening", config=dict(type="sgd", lr=0.05, momentum=0.9, dampening=0.3, no_decay=[]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05, momentum=0.9, dampening=0.3), groups=one_group())),
        dict(name="sgd_maximize_weight_decay",
             config=dict(type="sgd", lr=0.01, weight_decay=0.1, maximize=True, no_decay=[]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.01, weight_decay=0.1, maximize=True), groups=one_group())),
    ],
    "adam": [
        dict(name="adam_plain", config=dict(type="adam", lr=0.01, no_decay=[]),
             torch=dict(cls="Adam", kwargs=dict(lr=0.01), groups=one_group())),
        dict(name="adam_amsgrad", config=dict(type="adam", lr=0.01, betas=[0.8, 0.99], amsgrad=True, no_decay=[]),
             torch=dict(cls="Adam", kwargs=dict(lr=0.01, betas=(0.8, 0.99), amsgrad=True), groups=one_group())),
        dict(name="adam_weight_decay", config=dict(type="adam", lr=0.01, weight_decay=0.1, eps=1e-6, no_decay=[]),
             torch=dict(cls="Adam", kwargs=dict(lr=0.01, weight_decay=0.1, eps=1e-6), groups=one_group())),
        dict(name="adam_maximize_weight_decay",
             config=dict(type="adam", lr=0.002, weight_decay=0.1, maximize=True, no_decay=[]),
             torch=dict(cls="Adam", kwargs=dict(lr=0.002, weight_decay=0.1, maximize=True), groups=one_group())),
    ],
    "adamw": [
        dict(name="adamw_plain", config=dict(type="adamw", lr=0.01, weight_decay=0.1, no_decay=[]),
             torch=dict(cls="AdamW", kwargs=dict(lr=0.01, weight_decay=0.1), groups=one_group())),
        dict(name="adamw_default_decay", config=dict(type="adamw", lr=0.01, no_decay=[]),
             torch=dict(cls="AdamW", kwargs=dict(lr=0.01), groups=one_group())),
        dict(name="adamw_amsgrad", config=dict(type="adamw", lr=0.01, weight_decay=0.05, amsgrad=True, no_decay=[]),
             torch=dict(cls="AdamW", kwargs=dict(lr=0.01, weight_decay=0.05, amsgrad=True), groups=one_group())),
    ],
    "rmsprop": [
        dict(name="rmsprop_plain", config=dict(type="rmsprop", lr=0.01, no_decay=[]),
             torch=dict(cls="RMSprop", kwargs=dict(lr=0.01), groups=one_group())),
        dict(name="rmsprop_momentum", config=dict(type="rmsprop", lr=0.01, alpha=0.9, momentum=0.9, no_decay=[]),
             torch=dict(cls="RMSprop", kwargs=dict(lr=0.01, alpha=0.9, momentum=0.9), groups=one_group())),
        dict(name="rmsprop_centered",
             config=dict(type="rmsprop", lr=0.01, centered=True, weight_decay=0.05, no_decay=[]),
             torch=dict(cls="RMSprop", kwargs=dict(lr=0.01, centered=True, weight_decay=0.05), groups=one_group())),
        dict(name="rmsprop_centered_momentum",
             config=dict(type="rmsprop", lr=0.005, centered=True, momentum=0.5, eps=1e-6, no_decay=[]),
             torch=dict(cls="RMSprop", kwargs=dict(lr=0.005, centered=True, momentum=0.5, eps=1e-6),
                        groups=one_group())),
    ],
    "adagrad": [
        dict(name="adagrad_plain", config=dict(type="adagrad", lr=0.1, no_decay=[]),
             torch=dict(cls="Adagrad", kwargs=dict(lr=0.1), groups=one_group())),
        dict(name="adagrad_lr_decay_initial_accumulator",
             config=dict(type="adagrad", lr=0.1, lr_decay=0.05, initial_accumulator_value=0.5, weight_decay=0.01,
                         no_decay=[]),
             torch=dict(cls="Adagrad", kwargs=dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.5,
                                                   weight_decay=0.01), groups=one_group())),
    ],
    "groups": [
        # descent's default: no weight decay on biases (and 1-d / norm parameters).
        dict(name="adamw_default_no_decay", config=dict(type="adamw", lr=0.01, weight_decay=0.1),
             torch=dict(cls="AdamW", kwargs=dict(lr=0.01, weight_decay=0.1), groups=weights_and_biases())),
        dict(name="sgd_default_no_decay", config=dict(type="sgd", lr=0.05, momentum=0.9, weight_decay=0.1),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05, momentum=0.9, weight_decay=0.1), groups=weights_and_biases())),
        # A glob group with its own lr and weight decay; its bias still gets no decay.
        dict(name="sgd_glob_group",
             config=dict(type="sgd", lr=0.05, momentum=0.9, weight_decay=0.01, groups=["1.*"], group_lr=[0.01],
                         group_weight_decay=[0.2]),
             torch=dict(cls="SGD", kwargs=dict(lr=0.05, momentum=0.9, weight_decay=0.01),
                        groups=[dict(params=["1.weight"], lr=0.01, weight_decay=0.2),
                                dict(params=["1.bias"], lr=0.01, weight_decay=0.0),
                                dict(params=["0.weight"]),
                                dict(params=["0.bias"], weight_decay=0.0)])),
        # set_lr scales each group relative to its initial lr, as torch's schedulers do.
        dict(name="adam_glob_group_scheduled", schedule="cosine",
             config=dict(type="adam", lr=0.02, groups=["0.*"], group_lr=[0.005], no_decay=[]),
             torch=dict(cls="Adam", kwargs=dict(lr=0.02),
                        groups=[dict(params=["0.weight", "0.bias"], lr=0.005), dict(params=["1.weight", "1.bias"])])),
    ],
}


def run(case, x, y, init):
    params = {n: init[n].clone().requires_grad_() for n in NAMES}
    spec = case["torch"]
    groups = [dict(g, params=[params[n] for n in g["params"]]) for g in spec["groups"]]
    opt = getattr(torch.optim, spec["cls"])(groups, **spec["kwargs"])
    initial = [g["lr"] for g in opt.param_groups]
    record = lambda s: {"step": s, "params": {n: params[n].detach().flatten().tolist() for n in NAMES}}
    trajectory = [record(0)]
    for t in range(1, STEPS + 1):
        if case.get("schedule") == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * (t - 1) / STEPS))
            for g, lr0 in zip(opt.param_groups, initial):
                g["lr"] = lr0 * factor
        opt.zero_grad()
        loss_fn(params, x, y).backward()
        opt.step()
        if t % RECORD_EVERY == 0:
            trajectory.append(record(t))
    return trajectory


def main():
    torch.set_default_dtype(torch.float64)
    x, y, init = problem()
    OUT.mkdir(parents=True, exist_ok=True)
    info = {"torch_version": torch.__version__, "steps": STEPS, "record_every": RECORD_EVERY}
    (OUT / "problem.json").write_text(json.dumps({
        **info,
        "x": {"shape": list(x.shape), "values": x.flatten().tolist()},
        "y": {"shape": list(y.shape), "values": y.flatten().tolist()},
        "params": {n: {"shape": list(init[n].shape), "values": init[n].flatten().tolist()} for n in NAMES},
    }, indent=1) + "\n")
    for family, cases in CASES.items():
        out = []
        for case in cases:
            torch_spec = dict(case["torch"], kwargs={k: list(v) if isinstance(v, tuple) else v
                                                     for k, v in case["torch"]["kwargs"].items()})
            out.append({**case, "torch": torch_spec, "trajectory": run(case, x, y, init)})
        (OUT / f"{family}.json").write_text(json.dumps({**info, "cases": out}, indent=1) + "\n")
        print(f"{family}: {len(out)} cases")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes tests/golden/layers.json: outputs and gradients that PyTorch itself produces for the
layers and losses of descent's issue 4, against which tests/nn_numerics_test.cpp checks descent's
float64 ops (relative tolerance 1e-9).

Every case holds its inputs (row-major values with shapes), the op's arguments, the output, and
the gradients of sum(output * r) for a stored random projection r (so one backward covers every
output element). Batch-norm cases run several training steps and record the running statistics
after each step, then an evaluation-mode output.

Run with Debian's PyTorch (apt-get install python3-torch), not a virtualenv's:
    /usr/bin/python3 scripts/gen_layers_golden.py
Add a case by appending to the list in main() and re-running; the C++ test looks cases up by name.
"""
import json
from pathlib import Path

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def t(x):
    """A tensor as {shape, values}."""
    x = x.detach()
    return {"shape": list(x.shape), "values": x.reshape(-1).tolist()}


def leaf(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape) * (hi - lo) + lo).requires_grad_()


def with_grads(name, op, args, inputs, fn):
    """Runs fn(*inputs), projects on a random r, and records output and input gradients."""
    y = fn(*inputs)
    r = torch.rand(y.shape) * 2 - 1
    (y * r).sum().backward()
    return {
        "name": name,
        "op": op,
        "args": args,
        "inputs": [t(x) for x in inputs],
        "r": t(r),
        "output": t(y),
        "grads": [t(x.grad) if x.grad is not None else None for x in inputs],
    }


def conv_case(name, x_shape, w_shape, stride, padding, dilation, groups, bias=True):
    x, w = leaf(*x_shape), leaf(*w_shape)
    inputs = [x, w] + ([leaf(w_shape[0])] if bias else [])
    args = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return with_grads(name, "conv2d", args, inputs,
                      lambda x, w, b=None: F.conv2d(x, w, b, stride, padding, dilation, groups))


def pool_case(name, op, x_shape, **kw):
    # a shuffled grid: no ties, so the arg-max is unique
    n = 1
    for s in x_shape:
        n *= s
    x = (torch.randperm(n).to(torch.float64) / n * 2 - 1).reshape(x_shape).requires_grad_()
    fn = (lambda x: F.max_pool2d(x, **kw)) if op == "max_pool2d" else (lambda x: F.avg_pool2d(x, **kw))
    return with_grads(name, op, kw, [x], fn)


def batch_norm_case(name, cls, features, shapes, momentum, eps, eval_shape):
    m = cls(features, momentum=momentum, eps=eps).double()
    with torch.no_grad():  # non-trivial affine parameters
        m.weight.copy_(torch.rand(features) + 0.5)
        m.bias.copy_(torch.rand(features) - 0.5)
    init = {"weight": t(m.weight), "bias": t(m.bias)}
    steps = []
    for shape in shapes:
        x = leaf(*shape, lo=-2.0, hi=3.0)
        m.zero_grad()
        y = m(x)
        r = torch.rand(y.shape) * 2 - 1
        (y * r).sum().backward()
        steps.append({"x": t(x), "r": t(r), "output": t(y), "grad_x": t(x.grad), "grad_weight": t(m.weight.grad),
                      "grad_bias": t(m.bias.grad), "running_mean": t(m.running_mean),
                      "running_var": t(m.running_var), "num_batches_tracked": int(m.num_batches_tracked)})
    m.eval()
    xe = leaf(*eval_shape)
    return {"name": name, "op": "batch_norm", "args": {"momentum": momentum, "eps": eps, "features": features},
            "init": init, "steps": steps, "eval_x": t(xe), "eval_output": t(m(xe))}


def main():
    cases = [
        conv_case("conv_stride_pad_dil", [2, 3, 9, 8], [4, 3, 3, 2], [2, 1], [1, 2], [1, 2], 1),
        conv_case("conv_groups", [2, 4, 7, 7], [6, 2, 3, 3], [1, 1], [1, 1], [1, 1], 2),
        conv_case("conv_no_bias_stride3", [1, 2, 10, 9], [3, 2, 4, 3], [3, 2], [0, 1], [1, 1], 1, bias=False),
        pool_case("max_pool_k3s2p1_ceil", "max_pool2d", [2, 3, 9, 8], kernel_size=3, stride=2, padding=1,
                  ceil_mode=True),
        pool_case("max_pool_dilation", "max_pool2d", [1, 2, 8, 9], kernel_size=2, stride=1, dilation=2),
        pool_case("avg_pool_k3s2p1_ceil_exclude", "avg_pool2d", [2, 3, 9, 8], kernel_size=3, stride=2, padding=1,
                  ceil_mode=True, count_include_pad=False),
        pool_case("avg_pool_k2s1p1_include", "avg_pool2d", [1, 2, 5, 6], kernel_size=2, stride=1, padding=1),
        batch_norm_case("batch_norm2d", torch.nn.BatchNorm2d, 3, [[4, 3, 5, 4], [2, 3, 5, 4], [4, 3, 5, 4]], 0.1,
                        1e-5, [3, 3, 5, 4]),
        batch_norm_case("batch_norm1d", torch.nn.BatchNorm1d, 5, [[8, 5], [6, 5], [8, 5], [7, 5]], 0.2, 1e-3,
                        [4, 5]),
    ]
    x, w, b = leaf(3, 4, 5, lo=-2.0, hi=2.0), leaf(4, 5, lo=0.5, hi=1.5), leaf(4, 5)
    cases.append(with_grads("layer_norm", "layer_norm", {"normalized_shape": [4, 5], "eps": 1e-5}, [x, w, b],
                            lambda x, w, b: F.layer_norm(x, [4, 5], w, b, 1e-5)))
    pos_weight = torch.tensor([3.0, 0.5, 1.0])
    weight = torch.tensor([0.5, 2.0, 1.0])
    x, y = leaf(5, 3, lo=-4.0, hi=4.0), leaf(5, 3, lo=0.0, hi=1.0)
    cases.append(with_grads("bce_with_logits", "bce_with_logits",
                            {"pos_weight": pos_weight.tolist(), "weight": weight.tolist(), "reduction": "none"},
                            [x, y], lambda x, y: F.binary_cross_entropy_with_logits(
                                x, y, weight=weight, pos_weight=pos_weight, reduction="none")))
    a, c = leaf(4, 5, lo=-2.0, hi=2.0), leaf(4, 5, lo=-2.0, hi=2.0)
    cases.append(with_grads("huber", "huber", {"delta": 0.7, "reduction": "none"}, [a, c],
                            lambda a, c: F.huber_loss(a, c, reduction="none", delta=0.7)))
    a, c = leaf(4, 5, lo=-2.0, hi=2.0), leaf(4, 5, lo=-2.0, hi=2.0)
    cases.append(with_grads("smooth_l1", "smooth_l1", {"beta": 0.4, "reduction": "none"}, [a, c],
                            lambda a, c: F.smooth_l1_loss(a, c, reduction="none", beta=0.4)))
    out = Path(__file__).resolve().parent.parent / "tests" / "golden" / "layers.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"torch_version": torch.__version__, "cases": cases}, indent=None) + "\n")
    print(f"wrote {out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()

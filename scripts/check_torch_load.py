#!/usr/bin/python3
"""Checks that a descent run's final.safetensors loads into the equivalent torch.nn.Sequential.

Builds torch.nn.Sequential from the run's config.toml ([model] layers, shapes inferred as descent
does), loads final.safetensors with load_state_dict(strict=True), and compares torch's eval-mode
outputs and predicted classes with descent's on the test samples `descent export --reference`
writes ("model_input": what the network takes, standardized when the run standardized).

Runs on Debian's Python (/usr/bin/python3 with python3-torch; `scripts/install-deps.sh --interop`).
Debian has no python3-safetensors, so the file is read with struct/json + torch.frombuffer here,
following the format's spec (8-byte little-endian header length, JSON header, raw data).

Usage: /usr/bin/python3 scripts/check_torch_load.py RUN_DIR [--descent PATH_TO_descent] [--atol 1e-5]
Exit code 0 when every check passes; prints the measured differences.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import tomllib

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "U8": torch.uint8}


def load_safetensors(path):
    """name -> tensor, validating the layout as the reference implementation does."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    out, end = {}, 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, e = info["data_offsets"]
        assert b == end, f"{path}: {name} does not start where the previous tensor ends"
        end = e
        t = torch.frombuffer(bytearray(body[b:e]), dtype=DTYPES[info["dtype"]]) if e > b else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    assert end == len(body), f"{path}: trailing bytes"
    return out


class GlobalAvgPool(torch.nn.Module):
    """descent's global_avg_pool: mean over H and W, [N, C, H, W] -> [N, C]."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def build_torch_model(cfg):
    """torch.nn.Sequential equivalent of [model] layers, with descent's shape inference."""
    shape = list(cfg["model"]["input_shape"])
    layers = []
    for spec in cfg["model"]["layers"]:
        t = spec["type"]
        if t == "linear":
            m = torch.nn.Linear(shape[-1], spec["out_features"], bias=spec.get("bias", True))
            shape = [spec["out_features"]]
        elif t == "conv2d":
            k, st, dil = pair(spec["kernel_size"]), pair(spec.get("stride", 1)), pair(spec.get("dilation", 1))
            pad = spec.get("padding", 0)
            pad = pad if isinstance(pad, str) else pair(pad)
            m = torch.nn.Conv2d(shape[0], spec["out_channels"], k, stride=st, padding=pad, dilation=dil,
                                groups=spec.get("groups", 1), bias=spec.get("bias", True))
        elif t in ("max_pool2d", "avg_pool2d"):
            k = pair(spec["kernel_size"])
            kw = dict(kernel_size=k, stride=pair(spec.get("stride", list(k))), padding=pair(spec.get("padding", 0)),
                      ceil_mode=spec.get("ceil_mode", False))
            if t == "max_pool2d":
                m = torch.nn.MaxPool2d(dilation=pair(spec.get("dilation", 1)), **kw)
            else:
                m = torch.nn.AvgPool2d(count_include_pad=spec.get("count_include_pad", True), **kw)
        elif t == "adaptive_avg_pool2d":
            m = torch.nn.AdaptiveAvgPool2d(pair(spec["output_size"]))
        elif t == "global_avg_pool":
            m = GlobalAvgPool()
        elif t in ("batch_norm1d", "batch_norm2d"):
            cls = torch.nn.BatchNorm1d if t == "batch_norm1d" else torch.nn.BatchNorm2d
            m = cls(shape[0], eps=spec.get("eps", 1e-5), momentum=spec.get("momentum", 0.1),
                    affine=spec.get("affine", True), track_running_stats=spec.get("track_running_stats", True))
        elif t == "layer_norm":
            m = torch.nn.LayerNorm(spec.get("normalized_shape", [shape[-1]]), eps=spec.get("eps", 1e-5),
                                   elementwise_affine=spec.get("elementwise_affine", True))
        elif t == "dropout":
            m = torch.nn.Dropout(spec.get("p", 0.5))
        elif t == "flatten":
            m = torch.nn.Flatten()
        elif t == "leaky_relu":
            m = torch.nn.LeakyReLU(spec.get("negative_slope", 0.01))
        elif t == "elu":
            m = torch.nn.ELU(spec.get("alpha", 1.0))
        elif t == "softplus":
            m = torch.nn.Softplus(spec.get("beta", 1.0), spec.get("threshold", 20.0))
        elif t in ("softmax", "log_softmax"):
            m = (torch.nn.Softmax if t == "softmax" else torch.nn.LogSoftmax)(dim=spec.get("dim", -1))
        else:
            simple = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "gelu": torch.nn.GELU,
                      "selu": torch.nn.SELU, "identity": torch.nn.Identity}
            if t not in simple:
                raise SystemExit(f"check_torch_load: layer type '{t}' has no torch equivalent here")
            m = simple[t]()
        if t not in ("linear",):  # shape inference through the layer
            with torch.no_grad():
                shape = list(m.eval()(torch.zeros([1] + shape)).shape[1:])
        layers.append(m)
    return torch.nn.Sequential(*layers)


def reference_batch(run_dir, descent):
    """input/output tensors written by `descent export --reference`."""
    with tempfile.TemporaryDirectory() as tmp:
        ref = os.path.join(tmp, "reference.safetensors")
        subprocess.run([descent, "export", run_dir, "--format", "safetensors", "--out", os.path.join(tmp, "w.safetensors"),
                        "--reference", ref], check=True, stdout=subprocess.DEVNULL)
        return load_safetensors(ref)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--descent", default="descent", help="path to the descent binary")
    ap.add_argument("--atol", type=float, default=1e-5)
    args = ap.parse_args()
    with open(os.path.join(args.run_dir, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    model = build_torch_model(cfg)
    state = load_safetensors(os.path.join(args.run_dir, "final.safetensors"))
    dtype = torch.float64 if cfg.get("train", {}).get("dtype", "float32") in ("float64", "f64", "double") else torch.float32
    model = model.to(dtype)
    result = model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape
    print(f"load_state_dict(strict=True): ok ({len(state)} tensors; {result})")
    print(model)
    ref = reference_batch(args.run_dir, args.descent)
    model.eval()
    x = ref.get("model_input", ref["input"])  # standardized features when the run standardized them
    with torch.no_grad():
        out = model(x.to(dtype)).float()
    diff = (out - ref["output"]).abs().max().item()
    same_argmax = bool((out.argmax(1) == ref["output"].argmax(1)).all()) if out.dim() == 2 else True
    print(f"batch {list(x.shape)}: max |torch - descent| = {diff:.3g}, same predictions: {same_argmax}")
    ok = diff <= args.atol and same_argmax
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

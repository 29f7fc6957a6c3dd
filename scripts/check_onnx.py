#!/usr/bin/python3
"""Checks a descent run's ONNX export: the ONNX checker, and an independent runtime's outputs.

Exports RUN_DIR with `descent export --format onnx --reference`, then
  1. onnx.checker.check_model(full_check=True) (shape inference in strict mode);
  2. runs the graph with OpenCV's dnn module (an independent runtime) on the reference batch and
     compares with descent's outputs (the graph takes raw features: a run that standardized them
     exports Sub/Div nodes first);
  3. runs the torch.nn.Sequential built from config.toml + final.safetensors on the same batch
     (a second reference, from scripts/check_torch_load.py; it takes standardized features).
Debian has no onnxruntime and its onnx (1.12) predates onnx.reference, hence OpenCV.

Runs on Debian's Python (/usr/bin/python3 with python3-onnx, python3-opencv, python3-torch;
`scripts/install-deps.sh --interop`).

Usage: /usr/bin/python3 scripts/check_onnx.py RUN_DIR [--descent PATH_TO_descent] [--atol 1e-4] [--opset 13]
Exit code 0 when every check passes; prints the measured differences.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import tomllib

import cv2
import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_torch_load import build_torch_model, load_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--descent", default="descent", help="path to the descent binary")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--opset", type=int, default=13)
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        path, ref_path = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "reference.safetensors")
        subprocess.run([args.descent, "export", args.run_dir, "--format", "onnx", "--out", path, "--opset", str(args.opset),
                        "--reference", ref_path], check=True, stdout=subprocess.DEVNULL)
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        ops = [n.op_type for n in model.graph.node]
        print(f"onnx.checker.check_model(full_check=True): ok (opset {model.opset_import[0].version}, nodes {ops})")
        ref = load_safetensors(ref_path)
        x, want = ref["input"].numpy(), ref["output"].numpy()
        model_x = ref["model_input"].numpy() if "model_input" in ref else x  # standardized, for torch
        standardized = [n.op_type for n in model.graph.node[:2]] == ["Sub", "Div"]
        with open(os.path.join(args.run_dir, "config.toml"), "rb") as f:
            wants_standardized = tomllib.load(f).get("data", {}).get("standardize", "none") != "none"
        print(f"standardization nodes (Sub, Div) first: {standardized} (the run standardizes: {wants_standardized})")
        ok = ok and standardized == wants_standardized

        net = cv2.dnn.readNetFromONNX(path)
        net.setInput(x)
        got = net.forward()
        d_cv = float(np.abs(got.reshape(want.shape) - want).max())
        same = bool((got.reshape(want.shape).argmax(1) == want.argmax(1)).all()) if want.ndim == 2 else True
        print(f"OpenCV {cv2.__version__} dnn on batch {list(x.shape)}: max |opencv - descent| = {d_cv:.3g}, "
              f"same predictions: {same}")
        ok = ok and d_cv <= args.atol and same

    import torch  # the second reference: the same weights in torch
    with open(os.path.join(args.run_dir, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    tm = build_torch_model(cfg)
    tm.load_state_dict(load_safetensors(os.path.join(args.run_dir, "final.safetensors")), strict=True)
    tm.float().eval()
    with torch.no_grad():
        t = tm(torch.from_numpy(model_x)).numpy()
    d_torch = float(np.abs(t - want).max())
    same_t = bool((t.argmax(1) == want.argmax(1)).all()) if want.ndim == 2 else True
    print(f"torch {torch.__version__}: max |torch - descent| = {d_torch:.3g}, same predictions: {same_t}")
    ok = ok and d_torch <= args.atol and same_t
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

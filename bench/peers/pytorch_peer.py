#!/usr/bin/python3
"""PyTorch peer of bench/compare.sh ("PyTorch as a user finds it"): Debian's python3-torch.

The same protocol as descent's bench_descent_epoch and the LibTorch peers, written the way a
PyTorch user would: the whole dataset as one float tensor, randperm + index_select batches,
torch.nn.Sequential, torch.optim.SGD. No thread setting: the default is what a user gets.

Fashion-MNIST from Debian's dataset-fashion-mnist, pixels scaled to [0, 1] and decoded before
timing; SGD lr 0.1 momentum 0.9, batch 128, cross-entropy, seed 0, reshuffled every epoch, last
partial batch kept, float32. Only the training loop is timed; epoch time = median of epochs
2..min(epochs, 5). Prints the same per-epoch and RESULT lines as the C++ programs.

Run it with Debian's interpreter (/usr/bin/python3), which is the one python3-torch installs into:
    /usr/bin/python3 bench/peers/pytorch_peer.py mlp|cnn [epochs] [threads (default: torch's)]
"""
import gzip
import os
import resource
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def data_dir():
    d = os.environ.get("DESCENT_DATA_DIR")
    return os.path.join(d, "fashion-mnist") if d else "/usr/share/datasets/fashion-mnist"


def read_idx(path, rank):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != 0x800 + rank:
        raise SystemExit(f"bad IDX magic in {path}")
    dims = struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank])
    data = raw[4 + 4 * rank:]
    count = 1
    for d in dims:
        count *= d
    if len(data) < count:
        raise SystemExit(f"truncated {path}")
    return torch.frombuffer(bytearray(data[:count]), dtype=torch.uint8).reshape(dims)


def load(prefix, cnn):
    x = read_idx(os.path.join(data_dir(), f"{prefix}-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(data_dir(), f"{prefix}-labels-idx1-ubyte.gz"), 1)
    x = x.to(torch.float32).div_(255.0)
    return (x.reshape(-1, 1, 28, 28) if cnn else x.reshape(-1, 784)), y.to(torch.int64)


def make_net(cnn):
    if cnn:
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def cpu_and_faults():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_minflt


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("mlp", "cnn"):
        raise SystemExit("usage: pytorch_peer.py mlp|cnn [epochs] [threads]")
    cnn = sys.argv[1] == "cnn"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else (3 if cnn else 10)
    if len(sys.argv) > 3:
        torch.set_num_threads(int(sys.argv[3]))
    torch.manual_seed(0)

    x_train, y_train = load("train", cnn)
    x_test, y_test = load("t10k", cnn)
    n, batch = x_train.shape[0], 128
    net = make_net(cnn)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    times, cpus, faults = [], [], []
    for e in range(epochs):
        net.train()
        c0, f0 = cpu_and_faults()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        loss_sum, steps = 0.0, 0
        for start in range(0, n, batch):
            idx = perm[start:start + batch]
            x, y = x_train.index_select(0, idx), y_train.index_select(0, idx)
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            steps += 1
        secs = time.perf_counter() - t0
        c1, f1 = cpu_and_faults()
        print(f"epoch {e + 1}: {secs:.3f} s  ({n / secs:.0f} samples/s)  cpu {c1 - c0:.3f} s  "
              f"minflt {f1 - f0}  loss {loss_sum / steps:.4f}", flush=True)
        if 1 <= e <= 4:
            times.append(secs)
            cpus.append(c1 - c0)
            faults.append(f1 - f0)

    net.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, x_test.shape[0], 1000):
            correct += (net(x_test[s:s + 1000]).argmax(1) == y_test[s:s + 1000]).sum().item()

    med = statistics.median(times) if times else 0.0
    blas = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line and "/" in line})
    print(f"RESULT impl=pytorch model={'cnn' if cnn else 'mlp'} threads={torch.get_num_threads()} epochs={epochs} "
          f"median_s={med:.4f} min_s={min(times) if times else 0.0:.4f} samples_per_s={n / med if med else 0:.0f} "
          f"cpu_s={statistics.median(cpus) if cpus else 0.0:.4f} "
          f"minflt_per_epoch={statistics.median(faults) if faults else 0:.0f} "
          f"test_acc={correct / x_test.shape[0]:.4f} blas={','.join(os.path.realpath(b) for b in blas) or 'none'}")


if __name__ == "__main__":
    main()

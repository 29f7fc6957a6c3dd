#!/usr/bin/env python3
"""Writes the IDX fixtures of tests/diag_test.cpp (deterministic; run from anywhere).

"blobs": 10 classes of 8x8 grey images. Each class has a random prototype; a sample is its
prototype plus Gaussian noise (std 40), clipped to [0, 255]. Learnable in a few dozen SGD steps by
a small MLP, large enough (600 training, 200 test images) that dead or saturated units are not
an accident of a tiny batch.
"""
import gzip
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SIDE, CLASSES = 8, 10


def make(n, rng, protos):
    labels = [i % CLASSES for i in range(n)]
    rng.shuffle(labels)
    pixels = bytearray()
    for c in labels:
        for p in protos[c]:
            pixels.append(min(255, max(0, int(round(p + rng.gauss(0, 40))))))
    images = struct.pack(">IIII", 0x803, n, SIDE, SIDE) + bytes(pixels)
    return images, struct.pack(">II", 0x801, n) + bytes(labels)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(gzip.compress(data, mtime=0))


def main():
    rng = random.Random(7)
    protos = [[rng.randrange(256) for _ in range(SIDE * SIDE)] for _ in range(CLASSES)]
    for split, n in (("train", 600), ("test", 200)):
        images, labels = make(n, rng, protos)
        write(f"blobs-{split}-images-idx3-ubyte.gz", images)
        write(f"blobs-{split}-labels-idx1-ubyte.gz", labels)


if __name__ == "__main__":
    main()

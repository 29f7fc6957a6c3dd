#!/usr/bin/env python3
"""Writes the tiny IDX fixtures of tests/data_test.cpp (run from anywhere; output is deterministic).

Good files: 6 images of 4x5 pixels (pixel k of image i = (37 * i + k) % 256) with labels
3 1 4 1 5 9, raw and gzip, plus idx_dir/ holding them under the four standard MNIST names. Bad
files: one per error the reader must report (see the test of each).
"""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
N, ROWS, COLS = 6, 4, 5
LABELS = [3, 1, 4, 1, 5, 9]


def images(n=N, rows=ROWS, cols=COLS, magic=0x803):
    head = struct.pack(">III", magic, n, rows) + struct.pack(">I", cols)
    body = bytes((37 * i + k) % 256 for i in range(n) for k in range(rows * cols))
    return head + body


def labels(values=LABELS, magic=0x801):
    return struct.pack(">II", magic, len(values)) + bytes(values)


def gz(data):
    return gzip.compress(data, mtime=0)


def write(name, data):
    path = os.path.join(HERE, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    write("idx/images-idx3-ubyte", images())
    write("idx/labels-idx1-ubyte", labels())
    write("idx/images-idx3-ubyte.gz", gz(images()))
    write("idx/labels-idx1-ubyte.gz", gz(labels()))
    # A raw file named .gz and a gzip file without .gz: detection goes by the magic bytes.
    write("idx/raw-named.gz", images())
    write("idx/gzip-unnamed", gz(labels()))

    write("idx/short-header", b"\x00\x00")
    write("idx/short-extents", struct.pack(">II", 0x803, N))
    write("idx/bad-magic", b"\x89PNG" + bytes(16))
    write("idx/float-images", struct.pack(">IIII", 0x0D03, 1, 1, 1) + bytes(4))
    write("idx/zero-images", struct.pack(">IIII", 0x803, 0, ROWS, COLS))
    write("idx/zero-rows", struct.pack(">IIII", 0x803, N, 0, COLS))
    write("idx/huge-images.gz", gz(struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFF, 0xFFFF)))
    write("idx/truncated-images", images()[:-7])
    write("idx/truncated-images.gz", gz(images()[:-7]))
    write("idx/trailing-images", images() + b"xyz")
    write("idx/trailing-images.gz", gz(images() + b"xyz"))
    good = gz(images())
    write("idx/cut-stream.gz", good[: len(good) // 2])
    # Flip bytes inside the deflate data: inflate fails or the CRC check does.
    broken = bytearray(good)
    for k in range(20, 28):
        broken[k] ^= 0xFF
    write("idx/corrupt-stream.gz", bytes(broken))
    write("idx/five-labels", labels(LABELS[:5]))
    write("idx/label-out-of-range", labels([3, 1, 4, 1, 10, 9]))

    write("idx_dir/train-images-idx3-ubyte.gz", gz(images()))
    write("idx_dir/train-labels-idx1-ubyte.gz", gz(labels()))
    write("idx_dir/t10k-images-idx3-ubyte", images(n=2))
    write("idx_dir/t10k-labels-idx1-ubyte", labels([7, 2]))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Turns the logs of bench/compare.sh into its Markdown table.

Reads DIR/<model>.<config>.<round>.out (per-epoch lines, RESULT and FLOOR lines) and
DIR/<model>.<config>.<round>.time (/usr/bin/time -v) and prints, per model and configuration:
epoch time median and min over every timed epoch of every process (epochs 2..min(epochs, 5)),
samples/s at the median, CPU seconds per epoch, test accuracy, peak RSS and minor faults of the
process, minor faults per timed epoch, and descent / peer as a ratio of the medians and as the
median of the per-round ratios (each round's processes ran next to each other, so this one is the
less drift-sensitive of the two), and descent / peer in CPU seconds (user + system) per epoch,
which a loaded machine disturbs less than wall time. Standard library only.

    /usr/bin/python3 bench/peers/summarize.py DIR
"""
import glob
import os
import re
import statistics
import sys

CONFIGS = ["descent", "libtorch", "libtorch-best", "pytorch"]
EPOCH = re.compile(r"^epoch (\d+): ([\d.]+) s .* cpu ([\d.]+) s\s+minflt (\d+)")


def blas_name(path):
    if path == "onednn":
        return "oneDNN"
    names = []
    for p in path.split(","):
        if "openblas-openmp" in p:
            names.append("OpenBLAS (OpenMP)")
        elif "openblas-pthread" in p:
            names.append("OpenBLAS (pthreads)")
        elif "openblas-serial" in p:
            names.append("OpenBLAS (serial)")
        elif "/blas/" in p:
            names.append("reference BLAS")
        else:
            names.append(os.path.basename(p) or p)
    return "+".join(dict.fromkeys(names))  # BLAS, LAPACK and libopenblas come from one package


def parse_run(out_path):
    run = {"times": [], "cpu": [], "faults": []}
    with open(out_path) as f:
        for line in f:
            m = EPOCH.match(line)
            if m:
                e = int(m.group(1))
                if 2 <= e <= 5:
                    run["times"].append(float(m.group(2)))
                    run["cpu"].append(float(m.group(3)))
                    run["faults"].append(int(m.group(4)))
            elif line.startswith(("RESULT ", "FLOOR ")):
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    run[k] = v
    time_path = out_path[:-4] + ".time"
    if os.path.exists(time_path):
        with open(time_path) as f:
            for line in f:
                if "Maximum resident set size" in line:
                    run["rss_mib"] = int(line.rsplit(":", 1)[1]) / 1024.0
                elif "Minor (reclaiming a frame) page faults" in line:
                    run["minflt_total"] = int(line.rsplit(":", 1)[1])
    return run if "median_s" in run and run["times"] else None


def fmt(x, spec):
    return "–" if x is None else format(x, spec)


def main():
    out = sys.argv[1]
    header = os.path.join(out, "header.txt")
    if os.path.exists(header):
        print(open(header).read().rstrip().replace("# ", "", 1).replace("\n# ", "  \n"))
        print()
    for model in ("mlp", "cnn"):
        runs = {}
        for config in CONFIGS:
            for path in sorted(glob.glob(os.path.join(out, f"{model}.{config}.*.out"))):
                rnd = int(path.rsplit(".", 2)[1])
                run = parse_run(path)
                if run:
                    runs.setdefault(config, {})[rnd] = run
        if not runs:
            continue
        desc = runs.get("descent", {})
        desc_med = statistics.median([t for r in desc.values() for t in r["times"]]) if desc else None
        desc_rss = statistics.median([r["rss_mib"] for r in desc.values() if "rss_mib" in r]) if desc else None
        desc_cpu = statistics.median([c for r in desc.values() for c in r["cpu"]]) if desc else None
        print(f"### {model.upper()}\n")
        print("| configuration | threads | GEMM | processes | epoch median s | epoch min s | samples/s | CPU s/epoch "
              "| test acc | peak RSS MiB | minor faults | faults/epoch (2+) | descent/peer time | paired | "
              "descent/peer CPU | descent/peer RSS |")
        print("|" + "---|" * 16)
        for config in CONFIGS:
            if config not in runs:
                continue
            rs = runs[config]
            ep = [t for r in rs.values() for t in r["times"]]
            med, mn = statistics.median(ep), min(ep)
            samples = 60000
            cpu = statistics.median([c for r in rs.values() for c in r["cpu"]])
            acc = statistics.median([float(r["test_acc"]) for r in rs.values()])
            rss = statistics.median([r["rss_mib"] for r in rs.values() if "rss_mib" in r] or [0])
            flt = statistics.median([r["minflt_total"] for r in rs.values() if "minflt_total" in r] or [0])
            fpe = statistics.median([f for r in rs.values() for f in r["faults"]])
            ratio = paired = rss_ratio = cpu_ratio = None
            if config != "descent" and desc_med:
                ratio = desc_med / med
                pairs = [statistics.median(desc[k]["times"]) / statistics.median(rs[k]["times"])
                         for k in rs if k in desc]
                paired = statistics.median(pairs) if pairs else None
                rss_ratio = desc_rss / rss if rss else None
                cpu_ratio = desc_cpu / cpu if cpu else None
            threads = sorted({r["threads"] for r in rs.values()})
            blas = sorted({blas_name(r.get("blas", "?")) for r in rs.values()})
            print(f"| {config} | {','.join(threads)} | {', '.join(blas)} | {len(rs)} | {med:.3f} | {mn:.3f} | "
                  f"{samples / med:.0f} | {cpu:.3f} | {acc:.4f} | {rss:.0f} | {flt:.0f} | {fpe:.0f} | "
                  f"{fmt(ratio, '.2f')} | {fmt(paired, '.2f')} | {fmt(cpu_ratio, '.2f')} | {fmt(rss_ratio, '.2f')} |")
        floors = [float(r["gemm_floor_s"]) for r in desc.values() if "gemm_floor_s" in r]
        if floors:
            fl = statistics.median(floors)
            print(f"\nGEMM floor (the epoch's GEMMs alone through dnnl_sgemm, measured in each descent process): "
                  f"median {fl:.3f} s; descent epoch / floor = {desc_med / fl:.2f} "
                  f"(per process: {', '.join(r['ratio_descent_floor'] for r in desc.values())})")
        epochs = sorted({r["epochs"] for rs in runs.values() for r in rs.values()})
        print(f"\nepochs per process: {','.join(epochs)}; epoch times pooled over epochs 2..min(epochs, 5) "
              "of all processes; ratios < 1 mean descent is faster / smaller.\n")


if __name__ == "__main__":
    main()

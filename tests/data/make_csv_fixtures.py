#!/usr/bin/env python3
"""Writes the small CSV/TSV fixtures of tests/data_test.cpp (deterministic output).

weather.csv: 12 days, numeric temp/humidity, categorical outlook, label play (yes/no), an id to
drop. houses.tsv: tab-separated regression with two targets. features.txt/targets.txt:
space-aligned features without header and their targets in a separate file (diabetes layout).
"""
import gzip
import os

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csv")

WEATHER = [
    # id, temp, humidity, outlook, play
    (1, 29.5, 85, "sunny", "no"), (2, 26.7, 90, "sunny", "no"), (3, 28.3, 78, "overcast", "yes"),
    (4, 21.1, 96, "rain", "yes"), (5, 20.0, 80, "rain", "yes"), (6, 18.3, 70, "rain", "no"),
    (7, 17.8, 65, "overcast", "yes"), (8, 22.2, 95, "sunny", "no"), (9, 20.6, 70, "sunny", "yes"),
    (10, 23.9, 80, "rain", "yes"), (11, 23.9, 70, "sunny", "yes"), (12, 22.2, 90, "overcast", "yes"),
]


def weather_text(rows):
    lines = ["id,temp,humidity,outlook,play"]
    lines += [f"{i},{t},{h},{o},{p}" for i, t, h, o, p in rows]
    return "\n".join(lines) + "\n"


def write(name, data):
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def main():
    write("weather.csv", weather_text(WEATHER))
    write("weather.csv.gz", gzip.compress(weather_text(WEATHER).encode(), mtime=0))
    write("weather_test.csv", weather_text([(13, 21.0, 75, "overcast", "yes"), (14, 25.0, 88, "sunny", "no")]))
    write("weather_unseen.csv", weather_text([(13, 21.0, 75, "overcast", "yes"), (14, 25.0, 88, "snow", "no")]))
    houses = ["rooms\tarea\tprice\trent"]
    for k in range(8):
        rooms, area = 1 + k % 4, 30.0 + 12.5 * k
        houses.append(f"{rooms}\t{area}\t{1000 * area + 5000 * rooms}\t{10 * area}")
    write("houses.tsv", "\n".join(houses) + "\n")
    feats = [f"{a:4d} {b:d}  {c:6.2f}" for a, b, c in [(59, 2, 32.1), (48, 1, 21.6), (72, 2, 30.5), (24, 1, 25.3)]]
    write("features.txt", "\n".join(feats) + "\n")
    write("targets.txt", "151\n75\n141\n206\n")
    write("targets_short.txt", "151\n75\n141\n")


if __name__ == "__main__":
    main()

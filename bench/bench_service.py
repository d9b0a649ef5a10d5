"""Load on the web service over loopback: throughput, latency, errors, memory.

    python bench/bench_service.py                      # 50 concurrent, 3 rounds
    python bench/bench_service.py --concurrency 100 --rounds 5 --image photo.jpg

Starts `mesonet serve` on a free port of 127.0.0.1 (queue sized to take every request, so
nothing is turned away), sends `--concurrency` image requests at once for each of
`--rounds` rounds, and reports requests/s, p50 and p99 latency, errors, and the
server's resident memory before, between and after the rounds (flat = no leak).
Traffic goes only to 127.0.0.1; the run is bounded by its rounds and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MESONET_SHARED", ROOT.parent / "shared"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request(url: str, body: bytes, boundary: str):
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            ok = r.status == 200 and "prediction" in json.loads(r.read())
            status = r.status
    except urllib.error.HTTPError as e:
        ok, status = False, e.code
    except OSError:
        ok, status = False, 0
    return time.perf_counter() - t, ok, status


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", type=Path, default=SHARED / "fixtures/faces/obama_small.jpg")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="the server's --workers")
    p.add_argument("--weights", default="meso4-df")
    args = p.parse_args(argv)
    if not args.image.exists():
        print(f"{args.image} not found (set MESONET_SHARED or pass --image)", file=sys.stderr)
        return 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mesonet", "serve", "--port", str(port),
                               "--workers", str(args.workers), "--queue", str(args.concurrency),
                               "--weights", args.weights], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(base + "/api/v1/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="x.jpg"\r\n\r\n').encode() + args.image.read_bytes() \
            + f"\r\n--{boundary}--\r\n".encode()
        request(base + "/api/v1/analyze", body, boundary)  # warm-up
        memory = [rss_mb(server.pid)]
        print(f"image {args.image.name}, {args.concurrency} concurrent requests x "
              f"{args.rounds} rounds, server workers {args.workers}")
        print(f"server RSS after warm-up: {memory[0]:.0f} MB")
        all_lat = []
        for r in range(args.rounds):
            t = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(lambda _: request(base + "/api/v1/analyze", body,
                                                          boundary), range(args.concurrency)))
            wall = time.perf_counter() - t
            lat = sorted(x for x, _, _ in results)
            all_lat += lat
            errors = sum(1 for _, ok, _ in results if not ok)
            memory.append(rss_mb(server.pid))
            print(f"round {r + 1}: {args.concurrency / wall:6.1f} req/s, p50 "
                  f"{lat[len(lat) // 2]:.2f} s, p99 {lat[min(len(lat) - 1, int(0.99 * len(lat)))]:.2f} s, "
                  f"errors {errors}, statuses {sorted({s for _, _, s in results})}, "
                  f"RSS {memory[-1]:.0f} MB")
        all_lat.sort()
        print(f"all: p50 {all_lat[len(all_lat) // 2]:.2f} s, p99 "
              f"{all_lat[min(len(all_lat) - 1, int(0.99 * len(all_lat)))]:.2f} s; RSS "
              f"{' -> '.join(f'{m:.0f}' for m in memory)} MB")
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

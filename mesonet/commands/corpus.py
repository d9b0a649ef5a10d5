"""Score a large corpus of videos and images on a Ray cluster (Ray Data).

    ray start --head --num-cpus 8                      # once, on the head machine
    mesonet corpus clips/ --output scores/ --ray auto
    mesonet corpus --manifest corpus.csv --output scores/ --ray 10.0.0.5:6379 \\
        --actors 16 --cpus-per-actor 1

The same rows as deepfakes_videos.py (one per file, the same columns, the same per-face
rows, the same error reasons), computed by --actors long-lived Ray actors, each of which
loads the network and the face detector once. Results are written as they finish, as
shards: OUTPUT/videos/part-*.csv and OUTPUT/faces/part-*.csv (or .parquet with
--format parquet); at the end, OUTPUT/videos.csv and OUTPUT/faces.csv hold everything in
input order. Run the same command again after a crash or a kill and only what has no
shard yet is scored. A file that cannot be read is an error row, never a failed job.

Inputs: paths and folders (searched recursively), or --manifest, a CSV or Parquet file
with a `path` column (and optionally `label`, copied into the rows). --ray takes a
cluster address (`auto`: the one `ray start` made on this machine; `local`: start one
inside this process). The project must be at the same path on every node of the cluster
(the actors import it from there); on one machine it always is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path

from mesonet import cli
from mesonet import scorers
from mesonet.contract import P_REAL_MEANING

logger = logging.getLogger("score_corpus")
# the folder that holds the mesonet package, for Ray workers started elsewhere
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
SHARD_FILES = 4  # files per shard: small shards lose little to a kill, big ones write less


def build_parser():
    p = cli.parser(__doc__)
    p.add_argument("paths", nargs="*", help="videos, images or folders (recursive)")
    p.add_argument("--manifest", help="CSV or Parquet file with a `path` column (and "
                                      "optionally `label`), instead of or besides PATHS")
    p.add_argument("--output", required=True,
                   help="folder for the shards and the merged videos.csv / faces.csv")
    p.add_argument("--ray", default="auto", metavar="ADDRESS",
                   help="Ray cluster address: host:port, `auto` (the cluster started on "
                        "this machine by `ray start`), or `local` (a cluster inside this "
                        "process) (default: %(default)s)")
    p.add_argument("--actors", type=int,
                   help="scoring actors (default: the cluster's CPUs / --cpus-per-actor)")
    p.add_argument("--cpus-per-actor", type=float, default=1.0,
                   help="CPUs reserved per actor (default: %(default)s)")
    p.add_argument("--gpus-per-actor", type=float, default=0.0,
                   help="GPUs per actor, on clusters that have them (default: %(default)s)")
    p.add_argument("--shard-files", type=int, default=SHARD_FILES,
                   help="files per shard and per actor call (default: %(default)s)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv",
                   help="shard format (default: %(default)s)")
    cli.add_weights_options(p)
    cli.add_video_options(p)
    cli.add_threshold_option(p)
    p.add_argument("--all-faces", action="store_true",
                   help="score every face, tracked per person (default: the largest face)")
    cli.add_common_options(p)
    return p


# --------------------------------------------------------------------------------------
# The corpus: what to score, named as every output names it


def read_manifest(path: Path) -> list[dict]:
    """[{'path', 'label'}] from a CSV or Parquet manifest; refused, before any work, when
    it has no `path` column, empty paths or the same path twice."""
    if not path.is_file():
        raise FileNotFoundError(f"Manifest {path} does not exist")
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        import csv

        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    if not rows or "path" not in rows[0]:
        raise ValueError(f"Manifest {path} needs a `path` column; found "
                         f"{', '.join(rows[0]) if rows else 'no rows'}")
    empty = [i + 2 for i, r in enumerate(rows) if not str(r["path"] or "").strip()]
    if empty:
        raise ValueError(f"Manifest {path}: empty path on line(s) {empty[:10]}")
    seen, twice = set(), []
    for r in rows:
        twice += [r["path"]] if r["path"] in seen else []
        seen.add(r["path"])
    if twice:
        raise ValueError(f"Manifest {path} lists {len(twice)} path(s) twice, e.g. "
                         f"{', '.join(map(str, twice[:5]))}; each file once, please")
    return [{"path": str(r["path"]), "label": r.get("label")} for r in rows]


def corpus_items(paths, manifest) -> list[dict]:
    """Every file to score, in order: [{'path', 'label', 'order'}], each once."""
    from mesonet.media import list_media

    items = read_manifest(Path(manifest)) if manifest else []
    known = {i["path"] for i in items}
    for p in list_media(paths):
        if str(p) not in known:
            items.append({"path": str(p), "label": None})
            known.add(str(p))
    if not items:
        raise ValueError("Nothing to score: give paths, folders or --manifest")
    return [{**item, "order": k} for k, item in enumerate(items)]


# --------------------------------------------------------------------------------------
# Shards: written as they finish, read back to resume


def shard_name(names: list[str]) -> str:
    return "part-" + hashlib.sha1("\n".join(names).encode("utf-8", "surrogateescape")
                                  ).hexdigest()[:16]


def write_shard(folder: Path, name: str, rows: list[dict], columns: list[str], fmt: str) -> None:
    from mesonet.outputs import atomic_path, atomic_write_text, csv_text

    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        atomic_write_text(path, csv_text(rows, columns))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({c: [r.get(c) for r in rows] for c in columns}) if rows else \
        pa.table({c: pa.array([], pa.string()) for c in columns})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_shards(folder: Path, fmt: str) -> list[dict]:
    rows = []
    for path in sorted(folder.glob(f"part-*.{fmt}")):
        if fmt == "csv":
            import csv

            with open(path, newline="", encoding="utf-8") as f:
                rows += list(csv.DictReader(f))
        else:
            import pyarrow.parquet as pq

            rows += pq.read_table(path).to_pylist()
    return rows


# --------------------------------------------------------------------------------------
# The actors


class Scorer:
    """One Ray actor: the network and the face detector, loaded once, kept across calls."""

    def __init__(self, settings: dict):
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        from mesonet.faces import FaceFinder

        self.s = settings
        self.classifier = scorers.load_scorer(settings["weights"], settings["model"],
                                          settings["runtime"])
        from mesonet import zoo

        self.ops = {level: zoo.point_for(self.classifier.weights, level, settings["threshold"],
                                         settings["band"], settings["aggregate"])
                    for level in ("frame", "video")}
        self.finder = FaceFinder(settings["detector"])

    def __call__(self, batch: dict) -> dict:
        from mesonet.pipeline import face_rows, video_row

        rows, faces = [], []
        for path, label, order in zip(batch["path"], batch["label"], batch["order"]):
            result = cli.analyze_safely(path, self.classifier, self.finder, self.s["frames"],
                                        self.s["all_faces"])
            op = self.ops["video" if result.kind == "video" else "frame"]
            row = video_row(result, self.classifier.weights, self.s["aggregate"], op)
            rows.append(json.dumps({**row, "label": label, "order": int(order)}))
            faces.append(json.dumps(face_rows(result)))
        return {"row": rows, "faces": faces}


def connect(address: str, project_env: dict):
    """ray.init on the cluster, or a clear error before any work."""
    import socket

    import ray

    if address not in ("auto", "local"):  # ray.init would retry for minutes: look first
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.removeprefix("ray://") or "127.0.0.1", int(port)),
                                     timeout=5).close()
        except (OSError, ValueError) as e:
            raise ConnectionError(f"Cannot reach a Ray cluster at {address!r}: {e}. Start one "
                                  f"with `ray start --head`, or use --ray local") from None
    runtime_env = {"env_vars": project_env}
    try:
        if address == "local":
            ray.init(runtime_env=runtime_env, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                     configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConnectionError(f"Cannot reach a Ray cluster at {address!r}: {e}. Start one "
                              f"with `ray start --head`, or use --ray local") from None
    return ray


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.verbose)
    from mesonet.outputs import atomic_write_text, csv_text, printable, remove_stale
    from mesonet.pipeline import FACE_COLUMNS, VIDEO_COLUMNS

    if args.shard_files < 1 or (args.actors is not None and args.actors < 1):
        raise ValueError("--shard-files and --actors must be at least 1")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"Output folder {out} is not writable")
    remove_stale(out, recursive=True)  # what a killed run was writing
    items = corpus_items(args.paths, args.manifest)
    videos_dir, faces_dir = out / "videos", out / "faces"
    videos_dir.mkdir(exist_ok=True)
    faces_dir.mkdir(exist_ok=True)
    columns = VIDEO_COLUMNS + ["label"]
    done = {r["video"] for r in read_shards(videos_dir, args.format)}
    todo = [i for i in items if printable(i["path"]) not in done]
    logger.info("%d files, %d already scored in %s, %d to score", len(items),
                len(items) - len(todo), out, len(todo))
    if todo:
        from mesonet import zoo

        zoo.resolve(args.weights)  # fetch once here, not once per actor
        env = {k: v for k, v in os.environ.items() if k.startswith("MESONET_")}
        env.update({"PYTHONPATH": str(PACKAGE_PARENT), "TF_CPP_MIN_LOG_LEVEL": "2"})
        ray = connect(args.ray, env)
        cpus = ray.cluster_resources().get("CPU", 1)
        actors = args.actors or max(1, int(cpus // args.cpus_per_actor))
        settings = {"weights": args.weights, "model": args.model, "runtime": args.runtime,
                    "band": args.inconclusive, "detector": args.detector,
                    "frames": args.frames, "all_faces": args.all_faces,
                    "aggregate": args.aggregate, "threshold": args.threshold}
        logger.info("Scoring on Ray (%s): %d actors x %.1f CPU", args.ray, actors,
                    args.cpus_per_actor)
        import ray.data
        from mesonet.progress import progress

        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items([{**i, "label": "" if i["label"] is None else str(i["label"])}
                                  for i in todo], override_num_blocks=max(1, len(todo)
                                                                          // args.shard_files))
        scored = ds.map_batches(Scorer, fn_constructor_kwargs={"settings": settings},
                                batch_size=args.shard_files, concurrency=actors,
                                num_cpus=args.cpus_per_actor, num_gpus=args.gpus_per_actor,
                                max_restarts=2, max_task_retries=2)
        with progress(total=len(todo), unit="file", enabled=not args.no_progress,
                      desc="scoring") as bar:
            for batch in scored.iter_batches(batch_size=args.shard_files,
                                             batch_format="default"):
                rows = [json.loads(r) for r in batch["row"]]
                faces = [f for text in batch["faces"] for f in json.loads(text)]
                name = shard_name([r["video"] for r in rows])
                # faces first: a shard of rows means its faces are on disk too
                write_shard(faces_dir, name, faces, FACE_COLUMNS, args.format)
                write_shard(videos_dir, name, rows, columns + ["order"], args.format)
                bar.update(len(rows))
        ray.shutdown()
    # everything, in input order, beside the shards
    order = {printable(i["path"]): k for k, i in enumerate(items)}
    rows = sorted((r for r in read_shards(videos_dir, args.format) if r["video"] in order),
                  key=lambda r: order[r["video"]])
    rank = {r["video"]: k for k, r in enumerate(rows)}
    # (a stable sort: within a file, the faces keep the order they were found in)
    faces = sorted((f for f in read_shards(faces_dir, args.format) if f["source"] in rank),
                   key=lambda f: rank[f["source"]])
    atomic_write_text(out / "videos.csv", csv_text(rows, columns))
    atomic_write_text(out / "faces.csv", csv_text(faces, FACE_COLUMNS))
    counts = {}
    for r in rows:
        counts[r["prediction"]] = counts.get(r["prediction"], 0) + 1
    print(f"{len(rows)} files scored ({len(items) - len(todo)} from earlier runs). "
          f"{P_REAL_MEANING}. " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"Results in {out / 'videos.csv'} and {out / 'faces.csv'} (shards in {videos_dir})")
    return 0 if len(rows) == len(items) else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))

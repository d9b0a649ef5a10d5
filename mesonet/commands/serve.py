"""`mesonet serve`: the web page and HTTP API (mesonet.service; `mesonet serve --help`
prints what they answer)."""

from __future__ import annotations

import logging

from mesonet import cli, service
from mesonet.workers import count_option

logger = logging.getLogger("mesonet serve")


def main(argv=None) -> int:
    p = cli.parser(service.__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    cli.add_weights_options(p, model=False)
    p.add_argument("--detector", choices=cli.DETECTORS, default="hog",
                   help="face detector (default: %(default)s; see deepfakes_videos.py --help)")
    p.add_argument("--workers", type=count_option("--workers"), default=2,
                   help="analyses run at once, each in a process of its own with its own "
                        "face finder (as the scripts' --jobs; 1: in the server's process) "
                        "(default: %(default)s)")
    p.add_argument("--queue", type=int, default=8,
                   help="analyses that may wait; one more gets 503 (default: %(default)s)")
    p.add_argument("--max-upload-mb", type=float, default=50.0,
                   help="largest upload in MB (default: %(default)s)")
    p.add_argument("--max-megapixels", type=float, default=40.0,
                   help="largest image in megapixels (default: %(default)s)")
    p.add_argument("--temp-dir", help="where uploads wait while analysed, deleted after each "
                   "request (default: the system's temporary folder)")
    args = p.parse_args(argv)
    cli.setup_logging()
    import uvicorn

    analyzer = service.Analyzer(args.weights, args.workers, args.queue, args.detector, args.runtime)
    app = service.create_app(analyzer, int(args.max_upload_mb * 1e6), int(args.max_megapixels * 1e6),
                     args.temp_dir)
    logger.info("MesoNet at http://%s:%d/ (weights %s)", args.host, args.port, args.weights)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                    limit_concurrency=args.workers + args.queue + 16)
    finally:
        analyzer.close()
    return 0


"""A web page and HTTP API to check an image or a video with MesoNet.

    mesonet serve                         # http://127.0.0.1:8000/
    mesonet serve --host 0.0.0.0 --port 8080 --max-upload-mb 100 --workers 2

API: POST /api/v1/analyze (multipart field `file`; optional `weights`, `frames`,
`aggregate`, `threshold`, `inconclusive`, `explain`), GET /api/v1/health,
GET /api/v1/weights; OpenAPI docs at /docs, served from this service (no CDN: they work
offline). P(real): 0 = deepfake/Face2Face, 1 = real; every numeric field is a number,
and the legend is in `p_real_meaning`.
With explain=true every face also gets its Grad-CAM map (hot = looks forged) as PNG data;
explanations run inside the same analysis slot, so they count against the same queue.

The model and the face detector load once, at start-up. Analyses run off the event
loop in --workers processes (one: in the server's own process), each with its own face
finder and scorers, as the scripts' --jobs; at most --queue requests wait, and one more
is answered 503 with Retry-After. An analysis process that dies (killed, out of memory)
costs only its request, answered 500 with the reason; another takes its place. Uploads go to temporary files that are always deleted; nothing
is stored after the response; no name from the client ever reaches the file system.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import queue
import tempfile
import threading
from pathlib import Path

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from mesonet import scorers
from mesonet.contract import (DEFAULT_THRESHOLD, FACE_SIZE, P_REAL_MEANING, OperatingPoint,
                              check_band, check_threshold)
from mesonet.media import MediaError

logger = logging.getLogger("app")
WEB = Path(__file__).resolve().parent / "web"

IMAGE_MAGIC = [(b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF87a", "gif"),
               (b"GIF89a", "gif"), (b"BM", "bmp"), (b"II*\x00", "tiff"), (b"MM\x00*", "tiff")]
VIDEO_BRANDS = (b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"qt  ", b"M4V ", b"3gp4", b"3gp5",
                b"dash", b"MSNV", b"iso4", b"iso5", b"iso6", b"M4A ")


def sniff(head: bytes) -> str | None:
    """'image' or 'video' from a file's first bytes, or None for anything else."""
    for magic, _ in IMAGE_MAGIC:
        if head.startswith(magic):
            return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"  # animated WebP is read as a video by the pipeline all the same
    if head[4:8] == b"ftyp" and head[8:12] != b"M4A ":
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # MPEG-PS / MPEG-1/2
        return "video"
    return None


class Busy(Exception):
    pass


class AnalysisFailed(Exception):
    """The process analysing an upload died on it (killed, out of memory)."""


# ------------------------------------------------------------------------------------
# The JSON answers, as OpenAPI models (shown at /docs)


class PointInfo(BaseModel):
    fake_at_most: float = Field(description="P(real) at or below it is called fake")
    real_above: float = Field(description="P(real) above it is called real; between the two, "
                                          "inconclusive")
    level: str = Field(description="frame (faces, images) or video (a video's mean P(real))")
    fitted_on: str = Field(description="what the point was fitted on, in words")
    target: float | None = Field(description="the largest share of real (and of forged) "
                                             "faces a verdict was allowed to be wrong on, per "
                                             "calibration source")
    real_called_fake: float | None = Field(description="on sources the weights never saw: the "
                                                       "share of real faces called fake")
    fake_called_fake: float | None
    real_called_real: float | None
    fake_called_real: float | None


class WeightsInfo(BaseModel):
    name: str = Field(description="weights name, as `weights` takes it")
    trained_on: str
    operating_points: dict[str, PointInfo] = Field(
        description="where verdicts fall, for frames and for videos, and what each means")
    note: str
    here: bool = Field(description="whether the weights are on this server now; if not, they "
                                   "are downloaded on first use (which fails offline)")
    where: str = Field(description="where the weights come from, in words (never a server "
                                   "path)")


class WeightsList(BaseModel):
    default: str
    weights: list[WeightsInfo]


class Health(BaseModel):
    status: str
    weights_loaded: list[str]
    default_weights: str
    workers: int


class FaceResult(BaseModel):
    frame: int
    time_s: float
    top: int
    right: int
    bottom: int
    left: int
    center_y: float
    center_x: float
    side: int
    rotation_deg: float
    track: int
    p_real: float = Field(description="the network's P(real) for this face")
    prediction: str = Field(description="real, fake or inconclusive")
    crop: str = Field(description="the aligned crop, 96 px, as JPEG data URL")
    heatmap: str | None = Field(None, description="Grad-CAM over the crop (explain=true)")


class FrameShown(BaseModel):
    frame: int
    image: str = Field(description="the frame with its faces boxed, JPEG data URL")


class Analysis(BaseModel):
    kind: str = Field(description="image or video")
    filename: str | None
    video: str | None = Field(description="the file name, for a video")
    weights: str
    model: WeightsInfo
    p_real: float | None = Field(description="the file's P(real): the mean over its faces "
                                             "(the paper's score); null when no face")
    p_real_meaning: str = Field(description="the legend: 0 = deepfake/Face2Face, 1 = real")
    mean_p_real: float | None
    vote_real: float | None = Field(description=f"share of faces with P(real) > {DEFAULT_THRESHOLD}")
    p_real_std: float | None
    p_real_iqr: float | None
    operating_point: PointInfo = Field(description="the point `prediction` was decided at")
    aggregate: str = Field(description="which score decided `prediction`: mean or vote")
    prediction: str = Field(description="real, fake, inconclusive, no_face or error")
    verdict: str = Field(description="the prediction in words")
    verdict_meaning: str = Field(description="what the prediction means at this operating "
                                             "point, in one line")
    real_given_verdict: float | None = Field(
        description="the share of real faces (videos) from sources the weights never saw "
                    "that got this verdict; null when not measured")
    fake_given_verdict: float | None = Field(
        description="the share of forged faces (videos) from those sources that got it")
    n_frames_sampled: int
    n_faces: int
    n_tracks: int
    error: str | None
    explained: bool
    faces: list[FaceResult]
    frames: list[FrameShown]


class ErrorInfo(BaseModel):
    code: int = Field(description="the HTTP status code")
    message: str = Field(description="what was wrong, in words, and what to do")


class ErrorBody(BaseModel):
    """The one shape of every error answer (4xx and 5xx)."""
    error: ErrorInfo


def error_response(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status,
                        headers=headers)


ERRORS = {400: "empty upload", 413: "upload or image too large",
          415: "not an image or video",
          422: "a bad form field, or a file that cannot be read (the reason is in the message)",
          500: "the process analysing the upload died on it (killed, out of memory?)",
          503: "busy (retry after Retry-After seconds), or the weights are not available here"}


def worker_setup(detector: str, runtime: str):
    """What each analysis process loads once (mesonet.workers): a face finder, and the
    scorers as requests name them."""
    from mesonet.faces import FaceFinder

    return {"finder": FaceFinder(detector), "scorers": {}, "runtime": runtime}


def worker_task(state, job):
    """One upload, in an analysis process: ('ok', VideoResult with crops and frames) or
    ('media_error', reason) for a file that cannot be read."""
    from mesonet import pipeline
    from mesonet.media import MediaError

    path, weights, frames = job
    if weights not in state["scorers"]:
        state["scorers"][weights] = scorers.load_scorer(weights, runtime=state["runtime"])
    try:
        return "ok", pipeline.analyze(path, state["scorers"][weights], state["finder"], frames,
                                      keep_crops=True, keep_frames=640)
    except MediaError as e:
        return "media_error", e.reason


class Analyzer:
    """Classifiers (one per weights, loaded once) and where analyses run: with one
    worker, in this process; with more, in that many worker processes
    (mesonet.workers.WorkerPool, as the scripts' --jobs), each with its own face finder
    and scorers, so that analyses use as many cores at once."""

    def __init__(self, default_weights: str, workers: int, queue_size: int, detector: str,
                 runtime: str = "auto"):
        from mesonet import pipeline
        from mesonet import zoo
        from mesonet.faces import FaceFinder

        self.pipeline = pipeline
        self.classifiers = {}
        self.runtime = runtime
        self.default_weights = default_weights
        self.lock = threading.Lock()
        self.get_classifier(default_weights)  # fail at start-up, not at the first request
        self.pool = None
        self.finders: queue.Queue = queue.Queue()
        if workers > 1:
            from mesonet.workers import WorkerPool

            self.pool = WorkerPool(workers, worker_setup, (detector, runtime), worker_task,
                                   label=lambda job: f"an upload for {job[1]}")
        else:
            self.finders.put(FaceFinder(detector))
        self.available = zoo.available_weights()
        self.slots = threading.BoundedSemaphore(workers + queue_size)
        self.workers = workers

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def _extract(self, path: str, weights: str, frames: int):
        """The pipeline on one upload: in a worker process, or here."""
        if self.pool is not None:
            from mesonet.media import MediaError
            from mesonet.workers import WorkerError

            try:
                status, value = self.pool.submit((path, weights, frames)).result()
            except WorkerError as e:
                raise AnalysisFailed(e.reason) from None
            if status == "media_error":
                raise MediaError(path, value)
            return value
        finder = self.finders.get()
        try:
            # a still image is one frame; an animation is sampled as a video
            return self.pipeline.analyze(path, self.get_classifier(weights), finder, frames,
                                         keep_crops=True, keep_frames=640)
        finally:
            self.finders.put(finder)

    def get_classifier(self, weights: str):
        with self.lock:
            if weights not in self.classifiers:
                self.classifiers[weights] = scorers.load_scorer(weights, runtime=self.runtime)
                import numpy as np

                self.classifiers[weights].predict(np.zeros((1, FACE_SIZE, FACE_SIZE, 3), np.uint8))
            return self.classifiers[weights]

    def describe(self, weights: str) -> dict:
        from mesonet import zoo

        here, _ = zoo.where(weights)
        return {"name": weights, "trained_on": zoo.trained_on(weights), "here": here,
                "where": zoo.origin(weights),
                "operating_points": {level: zoo.operating_point(weights, level, quiet=True)
                                     .as_dict() for level in ("frame", "video")},
                "note": "Scores are most reliable on forgeries like those the weights were "
                        "trained on; on other generators they are less reliable."}

    def analyze(self, path: str, kind: str, weights: str, frames: int, aggregate: str,
                threshold: float | None = None, band: float | None = None,
                explain: bool = False) -> dict:
        from mesonet import zoo

        # loaded here once per weights even when a worker scores: weights that cannot be
        # had are a 503 before any work, and explanations need them in this process
        classifier = self.get_classifier(weights)
        result = self._extract(path, weights, frames)
        maps = None
        if explain and result.faces:
            import numpy as np

            from mesonet.explain import explain as explain_faces

            # an ONNX Runtime scorer is explained by its weights in Keras, loaded once
            maps = explain_faces(classifier, np.stack([f.crop for f in result.faces]))
        face_op = zoo.point_for(weights, "frame", threshold, band, quiet=True)
        op = zoo.point_for(weights, "video" if kind == "video" else "frame", threshold, band,
                           aggregate, quiet=True)
        return render(result, kind, weights, aggregate, op, self.describe(weights), maps,
                      face_op)


def _png64(image, fmt="JPEG") -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, quality=85)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def render(result, kind, weights, aggregate, op: OperatingPoint, model, maps=None,
           face_op: OperatingPoint | None = None) -> dict:
    """The JSON answer: the scripts' fields, the verdict at `op` with what it means, and
    pictures for the page (each face called at `face_op`, default `op`; its Grad-CAM map
    over its crop, as PNG data, when `maps` are given)."""
    face_op = face_op or op
    import cv2
    import numpy as np

    summary = result.summary(aggregate, op)
    words = {"real": "Likely real", "fake": "Likely forged", "inconclusive": "Inconclusive",
             "no_face": "No face found", "error": "Could not be analysed"}
    faces = []
    for i, face in enumerate(result.faces):
        row = face.row()
        small = cv2.resize(face.crop, (96, 96), interpolation=cv2.INTER_AREA)
        row["crop"] = _png64(small)
        row["prediction"] = face_op.verdict(face.p_real)
        if maps is not None:
            from mesonet.explain import overlay

            heat = cv2.resize(overlay(face.crop, maps[i]), (96, 96), interpolation=cv2.INTER_AREA)
            row["heatmap"] = _png64(heat, "PNG")
        faces.append(row)
    # annotated frames: every frame of an image, up to 6 frames (spread) of a video
    with_faces = sorted({f.frame for f in result.faces}) or sorted(result.frames)[:1]
    pick = [with_faces[round(i)] for i in np.linspace(0, len(with_faces) - 1,
                                                      min(6, len(with_faces)))] if with_faces else []
    annotated = []
    for index in dict.fromkeys(pick):
        image, scale = result.frames[index]
        image = image.copy()
        for face in (f for f in result.faces if f.frame == index):
            top, right, bottom, left = (round(v * scale) for v in face.box)
            colour = {"real": (40, 180, 60), "fake": (220, 40, 40), "inconclusive": (230, 160, 0)}[
                face_op.verdict(face.p_real)]
            cv2.rectangle(image, (left, top), (right, bottom), colour, 2)
            cv2.putText(image, f"{face.p_real:.2f}", (left, max(12, top - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
        annotated.append({"frame": index, "image": _png64(image)})
    return {**summary, "kind": summary["kind"] or kind, "weights": weights, "model": model,
            "p_real": summary["mean_p_real"], "p_real_meaning": P_REAL_MEANING,
            "operating_point": op.as_dict(), "aggregate": aggregate,
            "explained": maps is not None, "video": None,
            "verdict": words[summary["prediction"]],
            "verdict_meaning": op.meaning(summary["prediction"]),
            "real_given_verdict": op.shares(summary["prediction"])[0],
            "fake_given_verdict": op.shares(summary["prediction"])[1],
            "faces": faces, "frames": annotated}


def check_form(analyzer: Analyzer, weights: str | None, frames: int, aggregate: str,
               threshold: float | None) -> str:
    """The weights to use, or a 422 that says what was received and what is allowed."""
    weights = weights or analyzer.default_weights
    if weights not in analyzer.available:
        raise HTTPException(422, f"unknown weights {weights!r}; available: "
                                 f"{', '.join(analyzer.available)}")
    if aggregate not in ("mean", "vote"):
        raise HTTPException(422, f"aggregate must be `mean` or `vote`; received {aggregate!r}")
    if not 1 <= frames <= 300:
        raise HTTPException(422, f"frames must be between 1 and 300; received {frames}")
    try:
        if threshold is not None:
            check_threshold(threshold)
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    return weights


async def save_upload(file: UploadFile, path: str, fd: int, max_bytes: int) -> str:
    """Stream the upload to `path` (opened as fd) within the size limit; its kind by
    content ('image' or 'video'), or an HTTP error."""
    size = 0
    with os.fdopen(fd, "wb") as out:
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, f"upload is over the limit of {max_bytes} bytes")
            out.write(chunk)
    if size == 0:
        raise HTTPException(400, "empty upload (0 bytes)")
    with open(path, "rb") as f:
        kind = sniff(f.read(32))
    if kind is None:
        raise HTTPException(415, "unsupported file type: send a JPEG, PNG, GIF, WebP, BMP or "
                                 "TIFF image, or an MP4, MOV, WebM, MKV or AVI video (decided "
                                 "by content, not by name)")
    return kind


def check_pixels(path, limit: int) -> None:
    """A 413 for an image over the service's limit, by its declared size (nothing decoded);
    a 422 with the reason for one that cannot be opened."""
    from mesonet.media import open_image

    try:
        with open_image(path) as img:
            w, h = img.size
    except MediaError as e:
        status = 413 if e.reason.startswith(("too large", "image is")) else 422
        raise HTTPException(status, f"cannot read the upload: {e.reason}") from None
    if w * h > limit:
        raise HTTPException(413, f"image is {w}x{h} ({w * h / 1e6:.0f} megapixels), over "
                                 f"the limit of {limit / 1e6:.0f} megapixels")


#: the page's icon: a magnifier over a face, as SVG (browsers accept it as /favicon.ico)
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
           b'<circle cx="13" cy="13" r="9" fill="#fff" stroke="#1f4e79" stroke-width="3"/>'
           b'<circle cx="10" cy="11" r="1.4" fill="#1f4e79"/><circle cx="16" cy="11" r="1.4" '
           b'fill="#1f4e79"/><path d="M9 16 q4 3 8 0" stroke="#1f4e79" stroke-width="1.6" '
           b'fill="none"/><path d="M20 20 l8 8" stroke="#1f4e79" stroke-width="4" '
           b'stroke-linecap="round"/></svg>')


def create_app(analyzer: Analyzer, max_upload_bytes: int, max_pixels: int,
               temp_dir: str | None = None) -> FastAPI:
    """The service. Uploads go to temporary files in `temp_dir` (default: the system's)."""
    import swagger_ui_bundle

    app = FastAPI(title="MesoNet", version="1.0", docs_url=None, redoc_url=None,
                  description="Is this face forged? MesoNet (Afchar et al., WIFS 2018). "
                              + P_REAL_MEANING)
    app.state.temp_dir = temp_dir or tempfile.gettempdir()
    # the docs' script and styles come from the installed swagger-ui-bundle, not a CDN
    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="MesoNet API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/favicon.ico")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(FAVICON, media_type="image/svg+xml",
                        headers={"Cache-Control": "max-age=86400"})

    @app.middleware("http")
    async def limit_upload_size(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_upload_bytes:
            return error_response(413, f"upload of {int(length)} bytes is over the limit of "
                                       f"{max_upload_bytes} bytes")
        return await call_next(request)

    @app.exception_handler(HTTPException)
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc):
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def form_error(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            field = ".".join(str(x) for x in e.get("loc", ())[1:]) or "request"
            parts.append(f"{field}: {e.get('msg', 'invalid')}; received {e.get('input')!r}")
        return error_response(422, "; ".join(parts))

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(WEB / "index.html", media_type="text/html")

    @app.get("/api/v1/health", response_model=Health)
    async def health():
        return {"status": "ok", "weights_loaded": sorted(analyzer.classifiers),
                "default_weights": analyzer.default_weights, "workers": analyzer.workers}

    @app.get("/api/v1/weights", response_model=WeightsList)
    async def weights():
        return {"default": analyzer.default_weights,
                "weights": [analyzer.describe(w) for w in analyzer.available]}

    @app.post("/api/v1/analyze", response_model=Analysis,
              responses={code: {"model": ErrorBody, "description": text}
                         for code, text in ERRORS.items()})
    async def analyze(file: UploadFile | None = File(None), weights: str | None = Form(None),
                      frames: int = Form(30), aggregate: str = Form("mean"),
                      threshold: float | None = Form(None, description="a fixed rule instead "
                                                     "of the weights' operating point"),
                      inconclusive: float | None = Form(None),
                      explain: bool = Form(False)):
        if file is None:
            raise HTTPException(422, "no file: send the image or video in the multipart "
                                     "field `file`")
        weights = check_form(analyzer, weights, frames, aggregate, threshold)
        if inconclusive is not None:
            try:
                check_band(inconclusive)
            except ValueError as e:
                raise HTTPException(422, str(e)) from None
        fd, tmp = tempfile.mkstemp(prefix="mesonet-upload-", dir=app.state.temp_dir)
        try:
            kind = await save_upload(file, tmp, fd, max_upload_bytes)
            if kind == "image":
                check_pixels(tmp, max_pixels)
            if not analyzer.slots.acquire(blocking=False):
                raise Busy()
            try:
                answer = await run_in_threadpool(analyzer.analyze, tmp, kind, weights, frames,
                                                 aggregate, threshold, inconclusive, explain)
            finally:
                analyzer.slots.release()
            answer["video"] = file.filename if kind == "video" else None
            answer["filename"] = file.filename
            return answer
        except Busy:
            return error_response(503, "busy: too many analyses waiting; retry shortly",
                                  headers={"Retry-After": "5"})
        except MediaError as e:
            raise HTTPException(422, f"cannot read the upload: {e.reason}") from None
        except AnalysisFailed as e:
            return error_response(500, f"the analysis failed: {e}")
        except OSError as e:  # weights that cannot be found or downloaded here
            raise HTTPException(503, f"weights {weights!r} are not available: {e}") from None
        finally:
            os.unlink(tmp)

    return app

"""The web service over real HTTP on 127.0.0.1, and its page in a real browser."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT, post, serve


@pytest.fixture(scope="module")
def uploads(tmp_path_factory):
    """The service's temporary folder for uploads, this module's own."""
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="module")
def server(reference, uploads):
    with serve("--weights", "meso4-df", "--workers", "1", "--queue", "2",
               "--max-upload-mb", "20", "--max-megapixels", "40",
               "--temp-dir", str(uploads)) as url:
        yield url


def test_health_and_docs(server):
    with urllib.request.urlopen(server + "/api/v1/health") as r:
        assert json.loads(r.read())["status"] == "ok"
    with urllib.request.urlopen(server + "/openapi.json") as r:
        assert "/api/v1/analyze" in json.loads(r.read())["paths"]
    with urllib.request.urlopen(server + "/docs") as r:
        assert r.status == 200


def test_docs_work_offline_their_assets_come_from_the_service(server):
    import re

    with urllib.request.urlopen(server + "/docs") as r:
        page = r.read().decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"/docs loads {asset} from elsewhere"  # no CDN
        with urllib.request.urlopen(server + asset) as r:
            assert r.status == 200 and len(r.read()) > 100, asset
    with urllib.request.urlopen(server + "/favicon.ico") as r:
        assert r.status == 200 and b"<svg" in r.read()


def test_weights_list_says_which_are_here_and_which_would_download(server, tmp_path):
    with urllib.request.urlopen(server + "/api/v1/weights") as r:
        listed = {w["name"]: w for w in json.loads(r.read())["weights"]}
    assert listed["meso4-corpus"]["here"] is True  # shipped in weights/
    assert listed["meso4-df"]["here"] is True  # MESONET_WEIGHTS_DIR (../shared) in the tests
    # a machine without the authors' files, offline: listed as downloading on first use
    import subprocess
    import sys

    from conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k != "MESONET_WEIGHTS_DIR"}
    env.update({"MESONET_CACHE_DIR": str(tmp_path), "MESONET_WEIGHTS_URL": "http://127.0.0.1:9/"})
    listing = subprocess.run([sys.executable, "-m", "mesonet", "weights"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
    assert listing.returncode == 0
    line = next(ln for ln in listing.stdout.splitlines() if ln.startswith("meso4-df "))
    assert "not here" in line and "downloads on first use from http://127.0.0.1:9/" in listing.stdout
    fetch = subprocess.run([sys.executable, "-m", "mesonet", "weights", "fetch", "meso4-df"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert fetch.returncode == 2 and "offline?" in fetch.stderr and "mesonet weights fetch" in fetch.stderr
    fetched = subprocess.run([sys.executable, "-m", "mesonet", "weights", "fetch"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60, env=os.environ.copy())
    assert fetched.returncode == 0 and fetched.stdout.count("verified (SHA-256)") == 4


def test_image_with_a_face(server, fixtures, meso4_df, finder):
    status, d, _ = post(server, "obama.jpg", (fixtures / "faces/obama.jpg").read_bytes())
    assert status == 200, d
    assert d["kind"] == "image" and d["n_faces"] == 1 and d["weights"] == "meso4-df"
    # the answer is the library's analysis of the same photo, called at the weights' point
    # for faces, with what that verdict has meant on sources the weights never saw
    from mesonet import pipeline, zoo

    finder.reset()
    mine = pipeline.analyze(fixtures / "faces/obama.jpg", meso4_df, finder, 30)
    assert d["mean_p_real"] == pytest.approx(mine.score("mean"), abs=1e-5)
    point = zoo.operating_point("meso4-df", "frame")
    assert point.calibrated and d["operating_point"]["fake_at_most"] == point.fake_at_most
    assert d["prediction"] == point.verdict(d["mean_p_real"])
    assert d["verdict_meaning"] == point.meaning(d["prediction"])
    assert (d["real_given_verdict"], d["fake_given_verdict"]) == point.shares(d["prediction"])
    assert "0 = deepfake/Face2Face, 1 = real" in d["p_real_meaning"]
    assert d["p_real"] == d["mean_p_real"]  # every numeric field is a number
    assert d["faces"][0]["crop"].startswith("data:image/jpeg;base64,")
    assert len(d["frames"]) == 1 and "Deepfake" in d["model"]["trained_on"]


def test_explanations_come_as_png_maps_only_when_asked(server, fixtures):
    import base64
    import io

    photo = (fixtures / "faces/obama.jpg").read_bytes()
    status, plain, _ = post(server, "obama.jpg", photo)
    assert status == 200 and plain["explained"] is False and plain["faces"][0]["heatmap"] is None
    status, d, _ = post(server, "obama.jpg", photo, {"explain": "true"})
    assert status == 200 and d["explained"] is True, d
    heat = d["faces"][0]["heatmap"]
    assert heat.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(heat.split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (96, 96)
    crop = Image.open(io.BytesIO(base64.b64decode(d["faces"][0]["crop"].split(",", 1)[1])))
    assert list(image.convert("RGB").getdata()) != list(crop.convert("RGB").getdata())
    assert d["mean_p_real"] == plain["mean_p_real"]  # explaining does not change the score
    # the operating point is the weights' own unless the request gives a fixed rule
    status, wide, _ = post(server, "obama.jpg", photo, {"inconclusive": "0.5"})
    assert status == 200
    assert (wide["operating_point"]["fake_at_most"], wide["operating_point"]["real_above"]) \
        == (0.0, 1.0)
    assert wide["prediction"] == "inconclusive" and wide["verdict"] == "Inconclusive"
    assert wide["real_given_verdict"] is None  # a fixed rule promises nothing
    status, plain, _ = post(server, "obama.jpg", photo, {"threshold": "0.5"})
    assert plain["prediction"] == ("real" if plain["mean_p_real"] > 0.5 else "fake")
    assert "not measured" in plain["verdict_meaning"]
    status, bad, _ = post(server, "obama.jpg", photo, {"inconclusive": "0.7"})
    assert status == 422 and "received 0.7" in bad["error"]["message"]


def test_video(server, fixtures):
    path = fixtures / "videos/liveportrait_d0_frontal_face_3s.mp4"
    status, d, _ = post(server, "clip.mp4", path.read_bytes(),
                        {"frames": "8", "aggregate": "vote"})
    assert status == 200, d
    assert d["kind"] == "video" and d["n_frames_sampled"] == 8 and d["n_faces"] == 8
    assert d["aggregate"] == "vote" and d["vote_real"] is not None and d["mean_p_real"] > 0.5
    assert [f["time_s"] for f in d["faces"]] == sorted(f["time_s"] for f in d["faces"])


def test_image_without_a_face(server, fixtures):
    status, d, _ = post(server, "cat.png", (fixtures / "no_face/skimage_chelsea_cat.png")
                        .read_bytes())
    assert status == 200 and d["prediction"] == "no_face" and d["mean_p_real"] is None
    assert d["verdict"] == "No face found"


@pytest.mark.parametrize("name, content, status, words", [
    ("empty.jpg", b"", 400, "empty upload"),
    ("photo.jpg", b"this is a text file, not a photo\n" * 10, 415, "unsupported file type"),
])
def test_bad_uploads(server, name, content, status, words):
    got, d, _ = post(server, name, content)
    assert got == status and words in d["error"]["message"]


def test_truncated_video(server, fixtures):
    data = (fixtures / "videos/short_hamilton_clip.mp4").read_bytes()
    status, d, _ = post(server, "cut.mp4", data[: len(data) // 3])
    assert status == 422 and "truncated" in d["error"]["message"]


def test_no_file_and_bad_fields(server):
    status, d, _ = post(server)
    assert status == 422 and "no file" in d["error"]["message"]
    status, d, _ = post(server, "x.jpg", b"\xff\xd8\xff", {"weights": "../../etc/passwd"})
    assert status == 422 and "unknown weights" in d["error"]["message"]


def test_huge_image_and_huge_upload(server, tmp_path):
    path = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000)).save(path)  # 100 megapixels in a small file
    status, d, _ = post(server, "huge.png", path.read_bytes())
    assert status == 413 and "megapixels" in d["error"]["message"]
    # a body over the limit is refused on its Content-Length, before it is sent
    import http.client

    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/v1/analyze")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(21_000_000))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert "over the limit of 20000000 bytes" in json.loads(response.read())["error"]["message"]
    conn.close()


@pytest.mark.slow
def test_many_requests_at_once_get_answers_and_the_service_stays_up(server, fixtures, uploads):
    # 12 video analyses sent at once: each takes long enough on any machine (30 frames of
    # a 640x360 clip) that the first three still hold the worker and the queue when the
    # last ones arrive
    video = (fixtures / "videos/short_hamilton_clip.mp4").read_bytes()
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda _: post(server, "h.mp4", video, {"frames": "30"}),
                                range(12)))
    statuses = [s for s, _, _ in results]
    assert set(statuses) <= {200, 503} and 200 in statuses
    assert 503 in statuses  # 1 worker + 2 waiting: the rest are turned away, not piled up
    for s, d, headers in results:
        if s == 503:
            assert headers["Retry-After"] == "5" and "busy" in d["error"]["message"]
    with urllib.request.urlopen(server + "/api/v1/health") as r:
        assert r.status == 200
    assert not list(uploads.iterdir())  # uploads never outlive a request


@pytest.mark.slow
def test_page_in_a_real_browser(server, fixtures, tmp_path):
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed (bash setup.sh --test installs it)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1000, "height": 1100})
        page.goto(server + "/")
        page.wait_for_selector("#weights option", state="attached")
        assert "trained on" in page.inner_text("#model")
        page.set_input_files("#file", str(fixtures / "faces/obama.jpg"))
        page.check("#explain")
        page.click("#analyze")
        page.wait_for_function("document.querySelector('#verdict').textContent.length > 0",
                               timeout=120_000)
        verdict = page.inner_text("#verdict")
        numbers = page.inner_text("#numbers")
        meaning = page.inner_text("#meaning")
        shot = ROOT / "output" / "screenshots" / "page_photo.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        crops = page.locator("#crops img:not(.heatmap)").count()
        heatmaps = page.locator("#crops img.heatmap").count()
        heat_width = page.locator("#crops img.heatmap").first.evaluate("i => i.naturalWidth")
        browser.close()
    from mesonet import zoo

    point = zoo.operating_point("meso4-df", "frame")
    words = {"Likely real": "real", "Likely forged": "fake", "Inconclusive": "inconclusive"}
    assert meaning == point.meaning(words[verdict])  # what the verdict means, beside it
    assert f"Called fake at or below {point.fake_at_most:.3f}" in numbers and crops == 1
    assert "P(real)" in numbers
    assert heatmaps == 1 and heat_width == 96  # the map shown beside its crop
    assert shot.stat().st_size > 10_000


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_no_answer_tells_a_client_where_the_server_keeps_its_files(server, fixtures, uploads):
    """Every endpoint's JSON, walked: no absolute path, no checkout, cache or upload folder."""
    answers = []
    for path in ("/api/v1/weights", "/api/v1/health", "/openapi.json"):
        with urllib.request.urlopen(server + path) as r:
            answers.append(json.loads(r.read()))
    status, d, _ = post(server, "obama.jpg", (fixtures / "faces/obama.jpg").read_bytes())
    assert status == 200
    answers.append(d)
    status, bad, _ = post(server, "x.jpg", b"not an image")
    answers.append(bad)
    secrets = [str(ROOT), str(uploads), os.environ["MESONET_CACHE_DIR"],
               os.environ.get("MESONET_WEIGHTS_DIR", str(ROOT)), "/tmp/", "/root", "/home/"]
    leaks = [s for answer in answers for s in _strings(answer) if not s.startswith("data:")
             and any(secret in s for secret in secrets)]
    assert leaks == []
    listed = answers[0]["weights"]
    assert {w["name"] for w in listed} >= {"meso4-df", "meso4-dfdc-or-gan"}
    assert all(w["where"] and "/" not in w["where"].split("https://")[0] for w in listed)


@pytest.mark.parametrize("how, status, words", [
    ("empty", 400, "empty upload"),
    ("route", 404, "Not Found"),
    ("huge", 413, "megapixels"),
    ("text", 415, "unsupported file type"),
    ("frames=abc", 422, "frames: Input should be a valid integer"),
    ("frames=0", 422, "frames must be between 1 and 300; received 0"),
])
def test_every_error_has_one_shape(server, tmp_path, how, status, words):
    """{"error": {"code": ..., "message": ...}} for every error, pydantic's included, and
    the OpenAPI schema says so."""
    if how == "route":
        try:
            urllib.request.urlopen(server + "/api/v1/nothing")
        except urllib.error.HTTPError as e:
            got, d = e.code, json.loads(e.read())
    elif how == "huge":
        path = tmp_path / "huge.png"
        Image.new("L", (10_000, 10_000)).save(path)
        got, d, _ = post(server, "huge.png", path.read_bytes())
    elif how.startswith("frames="):
        got, d, _ = post(server, "x.jpg", b"\xff\xd8\xff", {"frames": how.split("=")[1]})
    else:
        got, d, _ = post(server, "x.jpg", b"" if how == "empty" else b"plain text\n" * 20)
    assert got == status and set(d) == {"error"} and d["error"]["code"] == status
    assert words in d["error"]["message"], d
    if how == "frames=abc":
        assert "received 'abc'" in d["error"]["message"]
    with urllib.request.urlopen(server + "/openapi.json") as r:
        spec = json.loads(r.read())
    answers = spec["paths"]["/api/v1/analyze"]["post"]["responses"]
    for code in ("400", "413", "415", "422", "503"):
        assert answers[code]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")

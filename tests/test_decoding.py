"""In-process decoding (PyAV) against the ffmpeg program: the same frames, pixel for pixel,
or the ffmpeg program itself where PyAV could not be sure; and the face finder's spare
core, which must not change a single face."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import threading
import time

import numpy as np
import pytest

from mesonet import media, pipeline

FALLBACK = "decoding with ffmpeg from frame"
needs_pyav = pytest.mark.skipif(importlib.util.find_spec("av") is None,
                                reason="PyAV (the `fast` extra) is not installed")


def _frames(path, monkeypatch, decoder, count=30, indices=None):
    monkeypatch.setenv("MESONET_DECODER", decoder)
    return [(f.index, f.image) for f in media.iter_frames(path, count, indices)]


def _assert_same(path, monkeypatch, caplog, pyav: bool, count=30, indices=None):
    ours = _frames(path, monkeypatch, "ffmpeg", count, indices)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="mesonet.media"):
        theirs = _frames(path, monkeypatch, "", count, indices)
    fell_back = any(FALLBACK in r.getMessage() for r in caplog.records)
    assert fell_back is not pyav, [r.getMessage() for r in caplog.records]
    assert [i for i, _ in theirs] == [i for i, _ in ours] and ours
    for (i, a), (_, b) in zip(ours, theirs):
        assert np.array_equal(a, b), f"{path.name}: frame {i} differs"


@needs_pyav
@pytest.mark.parametrize("name", [
    "videos/short_hamilton_clip.mp4", "videos/liveportrait_d0_frontal_face_3s.mp4",
    pytest.param("videos_dev/dfdc_abofeumbvv_fake.mp4", marks=pytest.mark.slow),
    pytest.param("videos_dev/hdtf_menendez_real.mp4", marks=pytest.mark.slow)])
def test_fixture_videos_decode_to_the_ffmpeg_programs_frames(fixtures, monkeypatch, caplog, name):
    """Hamilton starts 0.85 s into its file and has 275 frames for 300 slots; the DFDC
    clip is 1080p with B-frames, most of which are never decoded."""
    _assert_same(fixtures / name, monkeypatch, caplog, pyav=True)


CASES = {  # name: ffmpeg's output options, cutting 3 s of a fixture
    "full_range.mp4": ["-c:v", "libx264", "-pix_fmt", "yuvj420p"],
    "yuv444.mp4": ["-c:v", "libx264", "-pix_fmt", "yuv444p"],
    "bframes_offset.mp4": ["-c:v", "libx264", "-bf", "3", "-vf", "setpts=PTS+0.37/TB"],
    "variable_rate.mp4": ["-c:v", "libx264", "-bf", "2", "-fps_mode", "vfr", "-vf",
                          "setpts=N/(29.97*TB)+if(gt(N\\,40)\\,0.5/TB\\,0)"],
    "rate25.mkv": ["-r", "25", "-c:v", "libx264", "-bf", "3"],
    "vp9.webm": ["-c:v", "libvpx-vp9", "-b:v", "400k", "-deadline", "realtime"],
    # left to the ffmpeg program: 10-bit pictures, AVI's guessed timestamps
    "ten_bit.mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
    "bframes.avi": ["-c:v", "mpeg4", "-bf", "2"],
    # a phone-style clip: the container says "turn it by 90 degrees" (made from full_range)
    "rotated.mp4": None,
}


@pytest.fixture(scope="module")
def encoded(fixtures, tmp_path_factory):
    """name -> a short clip cut from a fixture (made when first asked for), each a case
    the in-process decoder must get right or leave to the ffmpeg program."""
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out = tmp_path_factory.mktemp("encodings")

    def make(name):
        path = out / name
        if not path.exists():
            if CASES[name] is None:
                args = ["-display_rotation", "90", "-i", str(make("full_range.mp4")), "-c", "copy"]
            else:
                args = ["-i", str(fixtures / "videos/short_hamilton_clip.mp4"), "-t", "3",
                        *CASES[name]]
            subprocess.run([ffmpeg, "-y", "-loglevel", "error", *args, str(path)], check=True)
        return path

    return make


@needs_pyav
@pytest.mark.parametrize("name, pyav", [
    ("full_range.mp4", True), ("bframes_offset.mp4", True), ("variable_rate.mp4", True),
    ("rotated.mp4", False),
    pytest.param("yuv444.mp4", True, marks=pytest.mark.slow),
    pytest.param("rate25.mkv", True, marks=pytest.mark.slow),
    pytest.param("vp9.webm", True, marks=pytest.mark.slow),
    pytest.param("ten_bit.mp4", False, marks=pytest.mark.slow),
    pytest.param("bframes.avi", False, marks=pytest.mark.slow)])
def test_encodings_decode_to_the_ffmpeg_programs_frames(encoded, monkeypatch, caplog,
                                                        name, pyav):
    _assert_same(encoded(name), monkeypatch, caplog, pyav)
    if name in ("variable_rate.mp4", "bframes_offset.mp4"):  # every slot, not only 30
        _assert_same(encoded(name), monkeypatch, caplog, pyav, count=None)


@needs_pyav
@pytest.mark.slow
def test_slots_past_the_last_frame_are_left_to_the_ffmpeg_program(encoded, monkeypatch, caplog):
    """Indices past the end: PyAV gives what it is sure of, the ffmpeg program the rest
    (here: nothing), and the caller sees the ffmpeg program's answer."""
    _assert_same(encoded("rate25.mkv"), monkeypatch, caplog, pyav=False,
                 count=None, indices=[0, 30, 74, 75, 90, 400])


@needs_pyav
def test_a_caller_that_stops_early_leaves_no_decoding_thread(fixtures, monkeypatch):
    monkeypatch.setenv("MESONET_DECODER", "")
    frames = media.iter_frames(fixtures / "videos_dev/dfdc_abofeumbvv_fake.mp4", 30)
    first = next(frames)
    assert first.index == 0
    assert any(t.name == "mesonet-decode" for t in threading.enumerate())
    frames.close()
    deadline = time.monotonic() + 5
    while any(t.name == "mesonet-decode" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the decoding thread did not end"
        time.sleep(0.05)


def test_the_spare_core_changes_no_face(fixtures):
    """Hamilton loses its face on a dark stage: with a core to spare, the two-upsampling
    search of the lost face runs beside the CNN rescue. Every face and crop must be those
    of the one-core search (the same crops: the same scores)."""
    from mesonet.faces import FaceFinder

    class Counting(FaceFinder):
        started = 0

        def _start_costliest(self, frame):
            future = super()._start_costliest(frame)
            self.started += future is not None
            return future

    path = fixtures / "videos/short_hamilton_clip.mp4"
    one, two = Counting(cores=1), Counting(cores=2)
    assert not one.spare_core and two.spare_core
    a = pipeline.extract_faces(path, one, 30)
    b = pipeline.extract_faces(path, two, 30)
    assert one.started == 0 and two.started >= 1  # the search did run on the spare core
    keys = lambda r: [(f.frame, f.box, f.center, f.side, f.rotation_deg, f.crop.tobytes())  # noqa: E731
                      for f in r.faces]
    assert keys(a) == keys(b) and a.faces

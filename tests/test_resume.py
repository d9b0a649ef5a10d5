"""Nothing lost on a kill: SIGKILL the long-running scripts mid-run, resume, and get
exactly what an uninterrupted run writes, with nothing missing and nothing twice.
(df_CNN.py's kill-and-resume test is in test_training.py, with the other training runs.)"""

from __future__ import annotations


import pytest

from conftest import kill_midway, mixed_inputs, rows_of, run_script


@pytest.mark.slow
def test_deepfakes_videos_killed_midway_resumes_to_the_same_result(fixtures, tmp_path):
    files = mixed_inputs(fixtures, tmp_path)
    common = ["--frames", "6", "--no-progress", "--all-faces"]
    whole = run_script("deepfakes_videos.py", *files, *common, "--output", tmp_path / "whole.csv",
                       "--frames-output", tmp_path / "whole_faces.csv", "--jobs", "1")
    assert whole.returncode == 0, whole.stderr
    out, faces = tmp_path / "part.csv", tmp_path / "part_faces.csv"
    # killed and resumed with two worker processes: still what one process writes
    args = ["deepfakes_videos.py", *files, *common, "--output", out, "--frames-output", faces,
            "--jobs", "2"]
    assert kill_midway(*args, ready=lambda: len(rows_of(out)) >= 2)
    assert 2 <= len(rows_of(out)) < len(files)  # killed with work left
    again = run_script(*args, "--resume")
    assert again.returncode == 0, again.stderr
    assert out.read_text() == (tmp_path / "whole.csv").read_text()
    assert faces.read_text() == (tmp_path / "whole_faces.csv").read_text()


@pytest.mark.slow
def test_extract_faces_killed_midway_resumes_to_the_same_crops(fixtures, tmp_path):
    files = mixed_inputs(fixtures, tmp_path)
    common = ["--frames", "6", "--no-progress", "--all-faces"]
    whole = run_script("extract_faces.py", *files, *common, "--output", tmp_path / "whole",
                       "--jobs", "1")
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "part"
    args = ["extract_faces.py", *files, *common, "--output", out, "--jobs", "2"]
    assert kill_midway(*args, ready=lambda: len(rows_of(out / "sources.csv")) >= 2)
    assert 2 <= len(rows_of(out / "sources.csv")) < len(files)
    again = run_script(*args)
    assert again.returncode == 0, again.stderr
    for table in ("manifest.csv", "sources.csv"):
        assert (out / table).read_text() == (tmp_path / "whole" / table).read_text(), table
    crops = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert crops == sorted(p.relative_to(tmp_path / "whole")
                           for p in (tmp_path / "whole").rglob("*.png"))
    assert len(crops) == len(rows_of(out / "manifest.csv"))  # none twice, none left over
    for c in crops:
        assert (out / c).read_bytes() == (tmp_path / "whole" / c).read_bytes(), c
    assert not list(out.rglob(".*.tmp*"))  # the killed run's half-written files are gone

"""The original MesoNet video pipeline's algorithm, as a timing baseline only.

A compact re-statement of what DariusAf/MesoNet's pipeline.py does per sampled frame
(FaceFinder.find_faces with use_frameset, then FaceBatchGenerator and predict_faces):
imageio's get_data for every access (so each frame is decoded twice: once to find the
face, once to align it), dlib's CNN on the 0.2-margin zone around the last face zoomed
by 0.5, HOG with two upsamplings on the whole frame when that fails, landmarks on the
full frame, scipy spline rotation and zoom, and batches grown by concatenation. It is
here to be timed against pipeline.py on the same videos and frames; it keeps the
original's faults that cost time (not the /255 one: inputs are scaled so scores are
comparable).
"""

from __future__ import annotations

from math import floor

import numpy as np


def run(path, frame_indices, classifier):
    """P(real) per face found, the original way; returns (faces found, scores)."""
    import face_recognition
    import imageio
    from scipy.ndimage import rotate, zoom

    from mesonet.pipeline import find_coordinates

    reader = imageio.get_reader(str(path), "ffmpeg")
    first = reader.get_data(0)
    shape = first.shape[:2]
    last = (0, 200, 200, 0)
    found = face_recognition.face_locations(first, number_of_times_to_upsample=2)
    if found:
        last = found[0]
    coordinates = {}

    def largest(locations):
        return max(locations, key=lambda b: b[2] - b[0])

    for i in frame_indices:
        frame = reader.get_data(i)
        off = round(0.2 * (last[2] - last[0]))
        y0, x1 = max(last[0] - off, 0), min(last[1] + off, shape[1])
        y1, x0 = min(last[2] + off, shape[0]), max(last[3] - off, 0)
        patch = frame[y0:y1, x0:x1]
        boxes = []
        if patch.size:
            small = zoom(patch, (0.5, 0.5, 1))
            boxes = face_recognition.face_locations(small, model="cnn")
        if boxes:
            t, r, b, l_ = largest(boxes)
            box = (round(y0 + t * 2), round(x0 + r * 2), round(y0 + b * 2), round(x0 + l_ * 2))
        else:
            boxes = face_recognition.face_locations(frame, number_of_times_to_upsample=2)
            if not boxes:
                continue
            box = largest(boxes)
        last = box
        marks = face_recognition.face_landmarks(frame, [box])
        if marks:
            coordinates[i] = find_coordinates(marks[0])

    def aligned(i):
        frame = reader.get_data(i)  # decoded a second time, as the original did
        (cy, cx), side, rot = coordinates[i]
        length = int(side) * 1.3
        dl = floor(np.sqrt(2) * length / 2)
        pad = max(dl - cy, cy + dl - frame.shape[0], dl - cx, cx + dl - frame.shape[1], 0)
        padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), "reflect")
        patch = padded[pad + cy - dl:pad + cy + dl, pad + cx - dl:pad + cx + dl]
        patch = rotate(patch, -rot, reshape=False)
        half = length // 2
        patch = patch[floor(dl - half):floor(dl + half), floor(dl - half):floor(dl + half)]
        return zoom(patch, (256 / patch.shape[0], 256 / patch.shape[1], 1))

    batch = np.zeros((1, 256, 256, 3))
    for i in sorted(coordinates):
        batch = np.concatenate((batch, aligned(i)[None]), axis=0)
    batch = batch[1:]
    scores = classifier.model.predict(batch / 255.0, verbose=0)[:, 0] if len(batch) else []
    reader.close()
    return len(coordinates), np.asarray(scores)

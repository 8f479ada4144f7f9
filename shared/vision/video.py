"""Read and write short videos with OpenCV, and sample a fixed number of frames from a clip.

    write_video("clip.mp4", frames, fps=4)             # frames: (T, H, W, 3) uint8 RGB
    info = video_info("clip.mp4")                      # frames, fps, width, height, seconds
    clip = sample_frames("clip.mp4", n=8, size=32)     # (8, 32, 32, 3) uint8 RGB, evenly spaced

OpenCV stores pixels as BGR; everything here takes and returns RGB, like matplotlib and PIL.
A video file is compressed (MPEG-4 part 2, "mp4v", here): what comes back is close to, not
exactly, what went in.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _cv2():
    import cv2  # opencv-python-headless

    return cv2


@dataclass(frozen=True)
class VideoInfo:
    frames: int     # as the container reports it (some formats only estimate it)
    fps: float
    width: int
    height: int

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps else 0.0


def _open(path) -> "cv2.VideoCapture":  # noqa: F821
    cv2 = _cv2()
    if not Path(path).is_file():
        raise FileNotFoundError(f"no video at {path}: check the path (write one with write_video)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"OpenCV cannot decode {path}: convert it to .mp4 (H.264 or MPEG-4) with ffmpeg")
    return capture


def video_info(path) -> VideoInfo:
    cv2 = _cv2()
    capture = _open(path)
    try:
        return VideoInfo(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), float(capture.get(cv2.CAP_PROP_FPS)),
                         int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        capture.release()


def read_frames(path) -> np.ndarray:
    """Every frame of a video as (T, H, W, 3) uint8 RGB (decoded in order: no seeking)."""
    cv2 = _cv2()
    capture = _open(path)
    frames = []
    try:
        while True:
            ok, frame = capture.read()   # (H, W, 3) BGR
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise ValueError(f"{path} has no decodable frames")
    return np.stack(frames)


def frame_indices(total: int, n: int) -> np.ndarray:
    """`n` evenly spaced frame numbers out of `total`: the middle of each of n equal segments."""
    if total < 1 or n < 1:
        raise ValueError(f"need at least one frame and n >= 1 (got total={total}, n={n})")
    return np.minimum(((np.arange(n) + 0.5) * total / n).astype(int), total - 1)


def resize(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) -> (T, size, size, 3): the central square crop, then area-averaged down."""
    cv2 = _cv2()
    _, h, w, _ = frames.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = frames[:, top:top + side, left:left + side]
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in square])


def sample_frames(path, n: int, size: int | None = None) -> np.ndarray:
    """`n` evenly spaced frames of a video, (n, size, size, 3) uint8 RGB (or full size if None)."""
    frames = read_frames(path)
    picked = frames[frame_indices(len(frames), n)]
    return picked if size is None else resize(picked, size)


def write_video(path, frames: np.ndarray, fps: float = 4.0) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as an MPEG-4 (.mp4) file; returns the path."""
    cv2 = _cv2()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}: is opencv built with FFmpeg? (cv2.getBuildInformation())")
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path

"""Fashion-MNIST loading: IDX parsing with checks, source resolution, splits, summary.

Pixels stay uint8 here; models scale them to float32 in [0, 1] batch by batch
(a Rescaling layer), so the whole set is never copied to float.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
N_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)
FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
# IDX magic: two zero bytes, type code 0x08 (unsigned byte), number of dimensions.
MAGIC_IMAGES = 0x00000803
MAGIC_LABELS = 0x00000801
# The official release's files, as SHA-256 of their decompressed bytes (the dataset's README in shared/ and
# `gunzip -c FILE | sha256sum` on Zalando's release agree): what "this is the official Fashion-MNIST" means.
OFFICIAL_SHA256 = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
ENV_VAR = "FMBENCH_DATA_DIR"
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "fashion-mnist"


@dataclass(frozen=True)
class Dataset:
    """The four arrays (uint8), where they came from and a digest of their bytes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    location: str
    source: str  # "explicit", "environment", "keras-cache" or "download"
    digest: str  # combined_digest(file_sha256)
    file_sha256: dict[str, str]  # file name -> SHA-256 of its decompressed bytes (gunzip -c FILE | sha256sum)
    load_seconds: float


@dataclass(frozen=True)
class Split:
    """Training, validation and test arrays for one run (images uint8), and where they came from.

    ``train_indices`` and ``val_indices`` point into the full 60,000-image training set, in the
    order the run uses them; their digests are recorded so anyone can draw the split again.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_indices: np.ndarray
    val_indices: np.ndarray
    n_pool: int


SPLIT_METHOD = ("scikit-learn train_test_split, stratified, random_state=seed: first the profile's n_train "
                "images (all if unset), then validation_fraction of those")


def indices_digest(indices: np.ndarray) -> str:
    """SHA-256 of an index list as little-endian int64 bytes, in the given order."""
    return hashlib.sha256(np.asarray(indices, dtype="<i8").tobytes()).hexdigest()


def labels_digest(labels) -> str:
    """SHA-256 of a label vector as uint8 bytes, in the given order."""
    return hashlib.sha256(np.asarray(labels, dtype=np.uint8).tobytes()).hexdigest()


def combined_digest(file_sha256: dict[str, str]) -> str:
    """One digest of the four files: SHA-256 over the four per-file SHA-256 digests (32 raw bytes each),
    concatenated in the order train images, train labels, test images, test labels."""
    combined = hashlib.sha256()
    for name in FILES.values():
        combined.update(bytes.fromhex(file_sha256[name]))
    return combined.hexdigest()


def unofficial_files(file_sha256: dict[str, str]) -> list[str]:
    """The files whose contents differ from the official release (empty: this is the official Fashion-MNIST)."""
    return [name for name, digest in OFFICIAL_SHA256.items() if file_sha256.get(name) != digest]


def official_line(data: Dataset) -> str:
    """One line saying whether ``data`` is the official Fashion-MNIST, naming the first file that is not."""
    different = unofficial_files(data.file_sha256)
    if not different:
        return "this is the official Fashion-MNIST (all four files match its published SHA-256)"
    name = different[0]
    return (f"warning: {Path(data.location) / name} is not the official Fashion-MNIST file (SHA-256 "
            f"{data.file_sha256[name][:12]}..., official {OFFICIAL_SHA256[name][:12]}...; "
            f"{len(different)} of 4 files differ): results are not comparable with published ones")


def require_official(data: Dataset) -> None:
    different = unofficial_files(data.file_sha256)
    if different:
        raise BenchError(f"{Path(data.location) / different[0]} is not the official Fashion-MNIST file "
                         f"({len(different)} of 4 files differ from the published SHA-256)",
                         value=data.file_sha256[different[0]],
                         fix=f"replace it with the official file (SHA-256 {OFFICIAL_SHA256[different[0]]}), "
                             "or drop --require-official")


def _decompressed_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise BenchError(f"data file missing: {path}",
                         fix=f"point --data-dir or {ENV_VAR} at a folder holding {', '.join(FILES.values())}")
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise BenchError(
            f"data file {path} is not a readable gzip file ({exc})", fix="replace it with an intact copy"
        ) from exc


def parse_idx(raw: bytes, path: Path, magic: int, n_dims: int) -> np.ndarray:
    """Return the uint8 array of one IDX file, checking magic, shape and length."""
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise BenchError(f"data file {path} is truncated: {len(raw)} bytes, shorter than its {header}-byte header")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise BenchError(
            f"data file {path} has the wrong IDX magic number", value=hex(found), fix=f"expected {hex(magic)}"
        )
    shape = struct.unpack(f">{n_dims}I", raw[4:header])
    if n_dims == 3 and shape[1:] != IMAGE_SHAPE:
        raise BenchError(f"data file {path} holds images of shape {shape[1:]}", fix="expected 28x28")
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise BenchError(
            f"data file {path} has {len(raw)} bytes but its header {shape} implies {expected}",
            fix="the file is truncated or padded; replace it",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _check_labels(labels: np.ndarray, images: np.ndarray, path: Path) -> None:
    if labels.shape[0] != images.shape[0]:
        raise BenchError(f"data file {path} has {labels.shape[0]} labels for {images.shape[0]} images")
    bad = np.flatnonzero(labels >= N_CLASSES)
    if bad.size:
        raise BenchError(
            f"data file {path} has label {int(labels[bad[0]])} at index {int(bad[0])}", fix="labels must be 0-9"
        )


def read_folder(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read the four IDX files of a folder; return arrays and each file's SHA-256 (decompressed)."""
    arrays: dict[str, np.ndarray] = {}
    file_sha256: dict[str, str] = {}
    for key, name in FILES.items():
        path = folder / name
        raw = _decompressed_bytes(path)
        file_sha256[name] = hashlib.sha256(raw).hexdigest()
        is_images = key.startswith("x_")
        arrays[key] = parse_idx(raw, path, MAGIC_IMAGES if is_images else MAGIC_LABELS, 3 if is_images else 1)
    for part in ("train", "test"):
        _check_labels(arrays[f"y_{part}"], arrays[f"x_{part}"], folder / FILES[f"y_{part}"])
    return arrays, file_sha256


def resolve_folder(data_dir: str | os.PathLike | None, download: bool = True) -> tuple[Path | None, str]:
    """Pick the folder to read: explicit, then the environment, then Keras' cache, else download
    (or, with ``download`` False, None)."""
    if data_dir:
        return Path(data_dir), "explicit"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]), "environment"
    if all((KERAS_CACHE / name).is_file() for name in FILES.values()):
        return KERAS_CACHE, "keras-cache"
    return (_download_to_cache(), "download") if download else (None, "download")


def check_folder(data_dir: str | os.PathLike | None) -> None:
    """Before any training: an explicit or environment folder must exist and hold the four files.

    Reading and checking their contents happens when the study loads them; with no folder given
    and no Keras cache, the study downloads (the only case that needs the network).
    """
    chosen = data_dir or os.environ.get(ENV_VAR)
    if not chosen:
        return
    folder = Path(chosen)
    where = "--data-dir" if data_dir else ENV_VAR
    if not folder.is_dir():
        raise BenchError(f"data folder does not exist: {folder}", fix=f"check {where}")
    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise BenchError(f"data file missing: {folder / missing[0]}",
                         fix=f"point {where} at a folder holding {', '.join(FILES.values())}")


def _download_to_cache() -> Path:
    import keras  # imported late: only a real user without a local copy pays for it

    try:
        keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # network errors come in many types
        raise BenchError(
            f"could not download Fashion-MNIST through Keras ({exc})",
            fix=f"pass --data-dir or set {ENV_VAR} to a folder holding the four .gz files",
        ) from exc
    return KERAS_CACHE


def load_dataset(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load Fashion-MNIST as uint8 arrays from the resolved folder."""
    start = time.perf_counter()
    folder, source = resolve_folder(data_dir)
    if not folder.is_dir():
        raise BenchError(f"data folder does not exist: {folder}", fix=f"check --data-dir or {ENV_VAR}")
    arrays, file_sha256 = read_folder(folder)
    return Dataset(**arrays, location=str(folder.resolve()), source=source, digest=combined_digest(file_sha256),
                   file_sha256=file_sha256, load_seconds=time.perf_counter() - start)


def subset_indices(y: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices of a class-balanced subset of ``size`` items (all when size is None or too large)."""
    if size is None or size >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split  # 1.9 s to import: only where a split is drawn

    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y, random_state=seed)
    return np.sort(keep)


def load_local(data_dir: str | os.PathLike | None = None) -> Dataset | None:
    """The dataset if it is on disk already (explicit, environment or Keras' cache); None if it must be
    downloaded, which needs Keras and so waits until TensorFlow is imported."""
    folder, _ = resolve_folder(data_dir, download=False)
    return None if folder is None else load_dataset(data_dir)


def stratified_subset(x: np.ndarray, y: np.ndarray, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced subset of ``size`` items (all of them when size is None or too large)."""
    keep = subset_indices(y, size, seed)
    return x[keep], y[keep]


def make_split(
    data: Dataset, seed: int, validation_fraction: float, n_train: int | None = None, n_test: int | None = None
) -> Split:
    """Seeded, stratified train/validation split of (a subset of) the training set (``SPLIT_METHOD``)."""
    from sklearn.model_selection import train_test_split

    pool = subset_indices(data.y_train, n_train, seed)
    train_pos, val_pos = train_test_split(
        np.arange(len(pool)), test_size=validation_fraction, stratify=data.y_train[pool], random_state=seed
    )
    train_idx, val_idx = pool[train_pos], pool[val_pos]
    # The test subset is fixed (seed 0) so every seed is scored on the same images.
    x_test, y_test = stratified_subset(data.x_test, data.y_test, n_test, 0)
    return Split(data.x_train[train_idx], data.y_train[train_idx], data.x_train[val_idx], data.y_train[val_idx],
                 x_test, y_test, train_idx, val_idx, len(pool))


def pixel_statistics(images: np.ndarray) -> dict[str, float]:
    """Exact mean/std of uint8 pixels from a 256-bin histogram (no float copy of the set)."""
    counts = np.bincount(images.ravel(), minlength=256).astype(np.float64)
    values = np.arange(256, dtype=np.float64)
    total = counts.sum()
    mean = float((counts * values).sum() / total)
    std = float(np.sqrt((counts * (values - mean) ** 2).sum() / total))
    return {"mean": mean, "std": std, "min": int(images.min()), "max": int(images.max()),
            "mean_scaled": mean / 255.0, "std_scaled": std / 255.0}


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(labels, minlength=N_CLASSES).astype(int).tolist()


def summarize(data: Dataset) -> dict:
    """Counts, shapes, class balance and pixel statistics, as plain JSON values."""
    return {
        "location": data.location,
        "source": data.source,
        "digest": data.digest,
        "file_sha256": dict(data.file_sha256),
        "official": not unofficial_files(data.file_sha256),  # all four files are the published release's
        "class_names": list(CLASS_NAMES),
        "train": {"count": len(data.y_train), "shape": list(data.x_train.shape),
                  "class_counts": class_counts(data.y_train), "pixels": pixel_statistics(data.x_train)},
        "test": {"count": len(data.y_test), "shape": list(data.x_test.shape),
                 "class_counts": class_counts(data.y_test), "pixels": pixel_statistics(data.x_test)},
    }

"""bench.data: IDX parsing with checks, folder resolution, splits and the summary, on the real files."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from bench import data
from bench.errors import BenchError


@pytest.fixture(scope="module")
def dataset(data_dir):
    return data.load_dataset(data_dir)


def test_full_dataset_shapes_and_known_statistics(dataset):
    assert dataset.x_train.shape == (60000, 28, 28) and dataset.x_train.dtype == np.uint8
    assert dataset.x_test.shape == (10000, 28, 28)
    assert set(np.unique(dataset.y_train)) == set(range(10))
    summary = data.summarize(dataset)
    assert summary["train"]["pixels"]["mean"] == pytest.approx(72.94035, abs=1e-4)
    assert summary["train"]["pixels"]["std"] == pytest.approx(90.02118, abs=1e-4)
    assert summary["test"]["pixels"]["mean"] == pytest.approx(73.14657, abs=1e-4)
    assert summary["train"]["class_counts"] == [6000] * 10


def test_digest_depends_on_the_bytes(dataset, data_dir, tmp_path):
    folder = _copy(data_dir, tmp_path)
    assert data.load_dataset(folder).digest == dataset.digest
    _rewrite_labels(folder, "t10k-labels-idx1-ubyte.gz", index=0, value=2)
    assert data.load_dataset(folder).digest != dataset.digest


def test_each_file_digest_is_sha256_of_the_decompressed_file(dataset, data_dir):
    """What `gunzip -c FILE | sha256sum` prints; the combined digest is over those four, as documented."""
    import hashlib

    for name in data.FILES.values():
        assert dataset.file_sha256[name] == hashlib.sha256(gzip.decompress((data_dir / name).read_bytes())).hexdigest()
    combined = hashlib.sha256(b"".join(bytes.fromhex(dataset.file_sha256[n]) for n in data.FILES.values()))
    assert dataset.digest == combined.hexdigest()
    assert data.summarize(dataset)["file_sha256"] == dataset.file_sha256


def test_the_per_file_digests_are_the_ones_the_datasets_readme_lists(dataset, data_dir):
    """The shared copy's README gives the SHA-256 of each decompressed file: fmbench records the same."""
    readme = data_dir / "README.md"
    if not readme.is_file():
        pytest.skip("no README beside this copy of the dataset")
    text = readme.read_text()
    for name in data.FILES.values():
        assert dataset.file_sha256[name] in text, name


def test_split_indices_reproduce_the_split_and_their_digests_identify_it(dataset):
    split = data.make_split(dataset, seed=4, validation_fraction=0.2, n_train=3000)
    assert split.n_pool == 3000 and len(split.train_indices) == 2400 and len(split.val_indices) == 600
    assert (dataset.x_train[split.train_indices] == split.x_train).all()
    assert (dataset.y_train[split.val_indices] == split.y_val).all()
    again = data.make_split(dataset, seed=4, validation_fraction=0.2, n_train=3000)
    assert data.indices_digest(again.train_indices) == data.indices_digest(split.train_indices)
    other = data.make_split(dataset, seed=5, validation_fraction=0.2, n_train=3000)
    assert data.indices_digest(other.train_indices) != data.indices_digest(split.train_indices)


def test_split_is_stratified_seeded_and_disjoint(dataset):
    split = data.make_split(dataset, seed=3, validation_fraction=0.2)
    assert len(split.y_train) == 48000 and len(split.y_val) == 12000
    assert np.bincount(split.y_val).tolist() == [1200] * 10
    again = data.make_split(dataset, seed=3, validation_fraction=0.2)
    assert np.array_equal(split.y_train, again.y_train) and np.array_equal(split.x_val, again.x_val)
    other = data.make_split(dataset, seed=4, validation_fraction=0.2)
    assert not np.array_equal(split.x_val, other.x_val)
    assert split.x_train.dtype == np.uint8


def test_subset_split_is_class_balanced(dataset):
    split = data.make_split(dataset, seed=0, validation_fraction=0.2, n_train=3000, n_test=1000)
    assert len(split.y_train) + len(split.y_val) == 3000
    assert np.bincount(split.y_test).tolist() == [100] * 10


def test_resolution_order(monkeypatch, data_dir, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(data_dir))
    assert data.resolve_folder(tmp_path) == (tmp_path, "explicit")
    assert data.resolve_folder(None) == (Path(data_dir), "environment")
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setattr(data, "KERAS_CACHE", Path(data_dir))
    assert data.resolve_folder(None) == (Path(data_dir), "keras-cache")


def _copy(source: Path, target: Path) -> Path:
    folder = target / "fm"
    folder.mkdir()
    for name in data.FILES.values():
        shutil.copy(source / name, folder / name)
    return folder


def _rewrite_labels(folder: Path, name: str, index: int, value: int) -> None:
    raw = bytearray(gzip.decompress((folder / name).read_bytes()))
    raw[8 + index] = value
    (folder / name).write_bytes(gzip.compress(bytes(raw)))


def test_truncated_gzip_names_the_file(data_dir, tmp_path):
    folder = _copy(data_dir, tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(BenchError, match=r"train-labels-idx1-ubyte.gz is not a readable gzip file"):
        data.load_dataset(folder)


def test_wrong_magic_is_reported_with_the_value(data_dir, tmp_path):
    folder = _copy(data_dir, tmp_path)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[3] = 0x03
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(BenchError, match=r"t10k-labels-idx1-ubyte.gz has the wrong IDX magic number; got '0x803'"):
        data.load_dataset(folder)


def test_label_out_of_range_names_index_and_value(data_dir, tmp_path):
    folder = _copy(data_dir, tmp_path)
    _rewrite_labels(folder, "train-labels-idx1-ubyte.gz", index=7, value=11)
    with pytest.raises(BenchError, match=r"train-labels-idx1-ubyte.gz has label 11 at index 7; labels must be 0-9"):
        data.load_dataset(folder)


def test_missing_file(data_dir, tmp_path):
    folder = _copy(data_dir, tmp_path)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(BenchError, match=r"data file missing: .*t10k-images-idx3-ubyte.gz"):
        data.load_dataset(folder)


def test_short_payload_is_truncation_not_garbage(tmp_path):
    raw = (0x00000801).to_bytes(4, "big") + (10).to_bytes(4, "big") + bytes(5)
    with pytest.raises(BenchError, match=r"has 13 bytes but its header \(10,\) implies 18"):
        data.parse_idx(raw, tmp_path / "x.gz", data.MAGIC_LABELS, 1)


def test_pixel_statistics_are_exact():
    images = np.array([[[0, 255], [255, 0]]], dtype=np.uint8)
    stats = data.pixel_statistics(images)
    assert stats["mean"] == 127.5 and stats["std"] == 127.5 and stats["max"] == 255


def test_the_shared_files_are_the_official_fashion_mnist(dataset, data_dir):
    """The pinned digests are the ones the dataset's README publishes, and the shared copy matches them."""
    readme = (data_dir / "README.md").read_text()
    for name, digest in data.OFFICIAL_SHA256.items():
        assert re.search(rf"\| {re.escape(name)} \|.*\| {digest} \|", readme), name
    assert data.unofficial_files(dataset.file_sha256) == []
    assert data.summarize(dataset)["official"] is True
    assert data.official_line(dataset) == ("this is the official Fashion-MNIST (all four files match its published "
                                           "SHA-256)")


def test_one_relabelled_test_image_is_not_the_official_dataset(data_dir, tmp_path, cli):
    """A test label changed to another valid class and re-gzipped: valid IDX, but not Fashion-MNIST."""
    folder = _copy(data_dir, tmp_path)
    _rewrite_labels(folder, "t10k-labels-idx1-ubyte.gz", index=0, value=3)
    changed = data.load_dataset(folder)
    assert data.unofficial_files(changed.file_sha256) == ["t10k-labels-idx1-ubyte.gz"]
    assert data.summarize(changed)["official"] is False
    done = cli("data", "--data-dir", str(folder))
    assert done.returncode == 0 and "official Fashion-MNIST: NO" in done.stdout
    (warning,) = done.stderr.strip().splitlines()
    assert warning.startswith(f"fmbench: warning: {folder / 't10k-labels-idx1-ubyte.gz'} is not the official "
                              "Fashion-MNIST file (SHA-256 ")
    strict = cli("data", "--data-dir", str(folder), "--require-official")
    assert strict.returncode == 2 and strict.stdout == ""
    (error,) = strict.stderr.strip().splitlines()
    assert error.startswith(f"fmbench data: error: {folder / 't10k-labels-idx1-ubyte.gz'} is not the official "
                            "Fashion-MNIST file (1 of 4 files differ from the published SHA-256)")

"""Loaders on small files written in the real formats, splits, normalisation and batching."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workbench.data import DeviceBatches, load_dataset, random_crop_flip
from workbench.data.memory import check_fits
from workbench.data.safe_pickle import restricted_load
from workbench.errors import WorkbenchError


def _batch(n: int, labels_key: str, classes: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"batch", labels_key.encode(): [int(v) for v in rng.integers(0, classes, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}


def _write(folder: Path, name: str, obj: object) -> None:
    (folder / name).write_bytes(pickle.dumps(obj, protocol=2))


def write_cifar10(root: Path, per_batch: int = 20) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        _write(folder, f"data_batch_{i}", _batch(per_batch, "labels", 10, i))
    _write(folder, "test_batch", _batch(per_batch, "labels", 10, 9))
    _write(folder, "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072})
    return folder


def test_digits_splits_are_disjoint_stratified_and_normalised() -> None:
    data = load_dataset("digits", input_size=16, in_channels=3)
    sizes = (len(data.train_y), len(data.val_y), len(data.test_y))
    assert sum(sizes) == 1797 and data.num_classes == 10
    assert sizes[2] == pytest.approx(0.2 * 1797, abs=10)
    assert sizes[1] == pytest.approx(0.2 * (sizes[0] + sizes[1]), abs=10)
    assert data.train_x.shape[1:] == (3, 16, 16)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    rows = [{tuple(x.flatten().tolist()) for x in split} for split in (data.train_x, data.val_x, data.test_x)]
    assert not rows[0] & rows[2] or len(rows[0] & rows[2]) < 5  # digits holds a few exact duplicates
    assert torch.allclose(data.train_x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(data.train_x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    assert set(data.val_y.tolist()) == set(range(10)) == set(data.test_y.tolist())
    again = load_dataset("digits", input_size=16)
    assert torch.equal(again.val_x, data.val_x)


def test_digits_split_indices_are_disjoint() -> None:
    from workbench.data.splits import stratified_split
    labels = np.repeat(np.arange(5), 7)
    kept, held = stratified_split(labels, 0.3, seed=3)
    assert not set(kept) & set(held) and len(kept) + len(held) == len(labels)
    assert set(labels[held]) == set(range(5))


def test_grey_channel_count_and_to_channels_last() -> None:
    data = load_dataset("digits", input_size=8, in_channels=1)
    assert data.in_channels == 1 and data.train_x.shape[1] == 1 and len(data.mean) == 1
    moved = data.to("cpu", channels_last=True)
    assert moved.train_x.is_contiguous(memory_format=torch.channels_last)


def test_cifar10_from_folder_and_tarball(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path / "src")
    data = load_dataset(f"cifar10:{folder.parent}", input_size=32)
    assert data.classes[:2] == ["c0", "c1"] and len(data.test_y) == 20
    assert len(data.train_y) + len(data.val_y) == 100
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    from_tar = load_dataset(f"cifar10:{archive}", input_size=16)
    assert from_tar.train_x.shape[1:] == (3, 16, 16) and len(from_tar.test_y) == 20


def test_cifar100(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    _write(folder, "train", _batch(60, "fine_labels", 100, 1))
    _write(folder, "test", _batch(10, "fine_labels", 100, 2))
    _write(folder, "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)]})
    data = load_dataset(f"cifar100:{folder}")
    assert data.num_classes == 100 and len(data.test_y) == 10


class _Evil:
    def __reduce__(self):  # noqa: D105
        return (os.system, ("touch PWNED_MARKER",))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = write_cifar10(tmp_path / "src")
    _write(folder, "data_batch_3", {b"data": _Evil(), b"labels": [0]})
    with pytest.raises(WorkbenchError, match="data_batch_3.*refusing to load global"):
        load_dataset(f"cifar10:{folder}")
    assert not (tmp_path / "PWNED_MARKER").exists()
    with pytest.raises(WorkbenchError, match="builtins.eval"):
        restricted_load(b"cbuiltins\neval\n(S'1+1'\ntR.", "evil.pkl")


def test_wrong_shape_pickle_names_the_file(tmp_path: Path) -> None:
    folder = write_cifar10(tmp_path / "src")
    _write(folder, "data_batch_2", {b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4})
    with pytest.raises(WorkbenchError, match="data_batch_2.*N x 3072 uint8"):
        load_dataset(f"cifar10:{folder}")
    _write(folder, "data_batch_2", {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3})
    with pytest.raises(WorkbenchError, match="data_batch_2: 3 labels for 4 images"):
        load_dataset(f"cifar10:{folder}")


def _write_tree(root: Path, splits: tuple[str, ...] = ("train",), per_class: int = 6) -> None:
    rng = np.random.default_rng(0)
    for split in splits:
        for cls in ("cat", "dog", "emu"):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")


def test_folder_tree_with_and_without_val(tmp_path: Path) -> None:
    _write_tree(tmp_path / "a")
    data = load_dataset(f"folder:{tmp_path / 'a'}", input_size=8)
    assert data.classes == ["cat", "dog", "emu"] and data.train_x.shape[1:] == (3, 8, 8)
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 18
    _write_tree(tmp_path / "b", ("train", "val"), per_class=4)
    given = load_dataset(f"folder:{tmp_path / 'b'}", input_size=8)
    assert len(given.val_y) == 12 and len(given.train_y) + len(given.test_y) == 12


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="missing 'train/'"):
        load_dataset(f"folder:{tmp_path}")
    (tmp_path / "train" / "only").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "train" / "only" / "a.png")
    with pytest.raises(WorkbenchError, match="at least two class folders"):
        load_dataset(f"folder:{tmp_path}")
    (tmp_path / "train" / "other").mkdir()
    (tmp_path / "train" / "other" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(WorkbenchError, match="broken.png: unreadable image"):
        load_dataset(f"folder:{tmp_path}")


def test_unknown_spec_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="digits, digits-hard, cifar10:PATH, cifar100:PATH, folder:PATH"):
        load_dataset("mnist")
    with pytest.raises(WorkbenchError, match="nowhere: no such file"):
        load_dataset(f"cifar10:{tmp_path / 'nowhere'}")


def test_too_large_for_memory_is_an_error() -> None:
    with pytest.raises(WorkbenchError, match="GiB of memory is available"):
        check_fits(10 * 2**30, "dataset 'x'", available=2**30)


def test_augmentation_keeps_shapes_and_labels() -> None:
    x = torch.arange(6 * 3 * 8 * 8, dtype=torch.float32).reshape(6, 3, 8, 8)
    y = torch.arange(6)
    batches = DeviceBatches(x, y, batch_size=4, augment=True, flip=True, seed=1)
    seen = []
    for images, labels in batches.epoch():
        assert images.shape[1:] == (3, 8, 8)
        for image, label in zip(images, labels):
            # every surviving pixel comes from the labelled image (padding is zero)
            values = image[image != 0]
            assert ((values >= x[label].min()) & (values <= x[label].max())).all()
        seen += labels.tolist()
    assert sorted(seen) == list(range(6))
    plain = random_crop_flip(torch.nn.functional.pad(x, (2,) * 4), torch.arange(6), 0 + 2, False, torch.Generator())
    assert plain.shape == x.shape


def test_flip_only_mirrors() -> None:
    x = torch.randn(64, 1, 4, 4)
    out = random_crop_flip(x, torch.arange(64), 0, True, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    same = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(m or s for m, s in zip(mirrored, same)) and 10 < sum(mirrored) < 54


def test_trailing_single_image_batch_is_dropped() -> None:
    batches = DeviceBatches(torch.randn(9, 1, 4, 4), torch.arange(9), batch_size=4, augment=False)
    assert [len(y) for _, y in batches.epoch()] == [4, 4]


def test_digits_hard_is_named_beside_plain_digits_which_stays_unchanged() -> None:
    hard = load_dataset("digits-hard", input_size=12)
    plain = load_dataset("digits", input_size=12)
    assert (hard.name, plain.name) == ("digits-hard", "digits")
    assert len(plain.train_y) + len(plain.val_y) + len(plain.test_y) == 1797  # all of scikit-learn's digits
    assert len(hard.val_y) > len(hard.train_y)
    with pytest.raises(WorkbenchError, match="digits-hard"):
        load_dataset("digits-harder")


def test_bundled_digits_equal_scikit_learns() -> None:
    """Our copy of the digits, read with numpy, is scikit-learn's `load_digits()` exactly."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    from workbench.data.digits import read_digits

    reference = sklearn_datasets.load_digits()
    raw = read_digits()
    images, labels = raw.train
    assert images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_array_equal(images, (reference.images.astype(np.float32) / 16.0)[:, None, :, :])
    np.testing.assert_array_equal(labels, reference.target)
    assert raw.classes == [str(c) for c in reference.target_names]

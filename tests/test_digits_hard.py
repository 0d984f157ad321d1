"""`digits-hard`: seeded, disjoint in source scans, in range, and harder than plain digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from workbench.data import load_dataset
from workbench.data.digits_hard import DEFAULT_SPEC, HardDigitsSpec, read_digits_hard

SPLITS = ("train", "val", "test")
# Every distortion off on an 8x8 canvas: each rendering is exactly its source scan.
IDENTITY = HardDigitsSpec(canvas=8, scale=(1.0, 1.0), rotation=0.0, clutter=0, noise=0.0)


def _arrays(raw: object) -> list[np.ndarray]:
    return [a for name in SPLITS for a in getattr(raw, name)]


def test_same_seed_gives_identical_arrays_and_another_seed_does_not() -> None:
    first, again, other = read_digits_hard(seed=0), read_digits_hard(seed=0), read_digits_hard(seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(_arrays(first), _arrays(again)))
    assert not np.array_equal(first.train[0], other.train[0])
    assert not np.array_equal(first.val[0], other.val[0])
    loaded = load_dataset("digits-hard", input_size=DEFAULT_SPEC.canvas, seed=0)
    assert torch.equal(loaded.val_x, load_dataset("digits-hard", input_size=DEFAULT_SPEC.canvas, seed=0).val_x)


def test_callers_get_copies_so_the_cache_cannot_be_corrupted() -> None:
    raw = read_digits_hard(seed=0)
    raw.train[0][:] = 0.0
    assert read_digits_hard(seed=0).train[0].max() > 0.0


def test_shapes_labels_class_balance_and_value_range() -> None:
    raw = read_digits_hard(seed=0)
    canvas = DEFAULT_SPEC.canvas
    scans = {name: len(getattr(raw, name)[1]) // getattr(DEFAULT_SPEC, f"{name}_copies") for name in SPLITS}
    assert sum(scans.values()) == 1797  # every scan of scikit-learn's digits, in exactly one pool
    assert len(raw.val[1]) > len(raw.train[1])  # small training split, large validation split
    for name in SPLITS:
        images, labels = getattr(raw, name)
        assert images.shape == (len(labels), 1, canvas, canvas) and images.dtype == np.float32
        assert labels.dtype == np.int64 and set(labels.tolist()) == set(range(10))
        shares = np.bincount(labels, minlength=10) / len(labels)
        assert shares.min() > 0.085 and shares.max() < 0.115  # stratified: each class ~10%
        assert images.min() >= 0.0 and images.max() <= 1.0
        assert 0.05 < images.mean() < 0.5  # neither blank nor saturated
    data = load_dataset("digits-hard", input_size=canvas, in_channels=1)
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == tuple(len(getattr(raw, n)[1]) for n in SPLITS)
    assert abs(float(data.train_x.mean())) < 1e-4 and abs(float(data.train_x.std()) - 1.0) < 1e-3


def test_no_source_scan_appears_in_two_splits() -> None:
    # With every distortion off, each rendering is its scan: match them to scikit-learn's own
    # images (which hold no exact duplicates) to learn which scans each split used.
    source = load_digits().images
    index = {np.rint(image).astype(np.int8).tobytes(): i for i, image in enumerate(source)}
    raw = read_digits_hard(seed=0, spec=IDENTITY)
    used = {}
    for name in SPLITS:
        images = getattr(raw, name)[0]
        used[name] = {index[np.rint(image[0] * 16).astype(np.int8).tobytes()] for image in images}
    assert not used["train"] & used["val"] and not used["train"] & used["test"] and not used["val"] & used["test"]
    assert len(used["train"] | used["val"] | used["test"]) == 1797
    # The pools depend on the seed only, not on the rendering: same labels in the same order.
    default = read_digits_hard(seed=0)
    assert all(np.array_equal(getattr(raw, n)[1], getattr(default, n)[1]) for n in SPLITS)


def _logistic_accuracy(spec: str, size: int) -> float:
    data = load_dataset(spec, input_size=size, in_channels=1)
    model = LogisticRegression(max_iter=2000).fit(data.train_x.flatten(1).numpy(), data.train_y.numpy())
    return float(model.score(data.val_x.flatten(1).numpy(), data.val_y.numpy()))


def test_a_fixed_linear_classifier_scores_much_lower_than_on_plain_digits() -> None:
    # Measured with scikit-learn's logistic regression on raw pixels at the canvas size:
    # 0.958 on plain digits, 0.832 on digits-hard (chance is 0.10): about four times the errors.
    plain = _logistic_accuracy("digits", DEFAULT_SPEC.canvas)
    hard = _logistic_accuracy("digits-hard", DEFAULT_SPEC.canvas)
    assert plain > 0.9
    assert hard < plain - 0.08


@pytest.mark.parametrize("spec", [HardDigitsSpec(clutter=0, noise=0.0), HardDigitsSpec(scale=(2.0, 2.0), rotation=0.0)])
def test_other_specs_render_in_range(spec: HardDigitsSpec) -> None:
    raw = read_digits_hard(seed=3, spec=spec)
    assert raw.train[0].shape[-1] == spec.canvas and 0.0 <= raw.train[0].min() and raw.train[0].max() <= 1.0

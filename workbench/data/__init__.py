"""Datasets (digits, CIFAR-10/100 from local files, image folders) and device-resident batching."""

from workbench.data.batching import DeviceBatches, random_crop_flip
from workbench.data.datasets import SPEC_FORMS, Dataset, load_dataset

__all__ = ["SPEC_FORMS", "Dataset", "DeviceBatches", "load_dataset", "random_crop_flip"]

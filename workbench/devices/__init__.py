"""Devices the workbench cannot run on: bundles of ONNX models to time there, the imported
measurements, and the latency predictors fitted on them.

* `bundle` — `workbench device bundle`: the models, manifest, runner and README of a bundle;
* `choose` — which architectures a bundle holds (space-filling samples, the study's front);
* `run_bundle` — the self-contained runner copied into every bundle (stdlib, numpy, onnxruntime);
* `checks`, `importing` — `workbench device import`: check a results.json, store the device;
* `fitting` — the one caller of the predictor; `catalog` — `workbench device list`;
* `folder` — the devices folder (why a folder and not the Optuna storage is said there);
* `kernels`, `predictor`, `latency_model` — the fused kernels of an architecture and the latency
  predictor learned from a device's measurements (k-fold CV against the MACs baseline).

Nothing is imported here, so the runner's module stays loadable without the rest.
"""

"""Devices the workbench cannot run on: bundles of ONNX models to time there, the imported
measurements, and the latency predictors fitted on them.

* `bundle` — `workbench device bundle`: the models, manifest, runner and README of a bundle;
* `choose` — which architectures a bundle holds (space-filling samples, the study's front);
* `run_bundle` — the self-contained runner copied into every bundle (stdlib, numpy, onnxruntime);
* `checks`, `importing` — `workbench device import`: check a results.json, store the device;
* `fitting` — the one caller of the predictor; `catalog` — `workbench device list`;
The devices folder and the latency predictor itself live one floor down, in
`workbench.predictors`, so a search's predicted target reads them without importing this package
(which uses the search's space sampling).

Nothing is imported here, so the runner's module stays loadable without the rest.
"""

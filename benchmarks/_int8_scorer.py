"""Score ONNX classifiers on a saved validation split with ONNX Runtime, graph optimisations on
('all') and off ('disable'); prints {file: {level: accuracy}} as JSON. Needs only numpy and
onnxruntime, so it runs under `qemu-x86_64 -cpu ...` as well as natively.

    python _int8_scorer.py FOLDER IMAGES model1.onnx model2.onnx ...   # IMAGES: the first N (0 = all)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

LEVELS = {"all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}


def accuracy(path: Path, level: str, images: np.ndarray, labels: np.ndarray) -> float:
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.concatenate([session.run(None, {name: images[i:i + 256]})[0] for i in range(0, len(images), 256)])
    return float((logits.argmax(axis=1) == labels).mean())


def main() -> None:
    folder, count = Path(sys.argv[1]), int(sys.argv[2])
    images, labels = np.load(folder / "val_x.npy"), np.load(folder / "val_y.npy")
    if count > 0:
        images, labels = images[:count], labels[:count]
    print(json.dumps({name: {level: accuracy(folder / name, level, images, labels) for level in LEVELS}
                      for name in sys.argv[3:]}))


if __name__ == "__main__":
    main()

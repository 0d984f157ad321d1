"""ONNX export of a trained model: the BN-folded graph run by onnxruntime matches PyTorch,
`workbench train --onnx` writes it, and a mismatch is an error that leaves no file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
import onnxruntime as ort  # noqa: E402
from helpers.train import SIZE, exported, tiny_arch  # noqa: E402

from workbench.cli.main import main  # noqa: E402
from workbench.config import ExportConfig, dump_model  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402
from workbench.models import build_model  # noqa: E402
from workbench.training import onnx as onnx_export  # noqa: E402


def _trained_like(arch):
    """A model whose BatchNorm statistics are not the identity (as after training)."""
    torch.manual_seed(0)
    model = build_model(arch)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, arch.in_channels, SIZE, SIZE) * 2 + 0.5)
    return model.eval()


def test_onnx_matches_pytorch_with_dynamic_batch(tmp_path) -> None:
    arch = tiny_arch()
    model = _trained_like(arch)
    sample = torch.randn(8, 3, SIZE, SIZE)
    diff = onnx_export.export_onnx(model, sample, tmp_path / "m.onnx")
    assert diff < 1e-4
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    other = torch.randn(3, 3, SIZE, SIZE)   # another batch size: the batch axis is dynamic
    got = session.run(None, {"images": other.numpy()})[0]
    with torch.no_grad():
        want = model(other).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_onnx_mismatch_is_an_error_and_no_file(tmp_path, monkeypatch) -> None:
    model = _trained_like(tiny_arch())
    from workbench.engines import onnx_graph
    real_fold = onnx_graph.fold_batchnorm

    def broken_fold(module):
        folded = real_fold(module)
        with torch.no_grad():
            folded.classifier.bias.add_(1.0)
        return folded

    monkeypatch.setattr(onnx_graph, "fold_batchnorm", broken_fold)
    with pytest.raises(WorkbenchError, match="differ from PyTorch's"):
        onnx_export.export_onnx(model, torch.randn(4, 3, SIZE, SIZE), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_train_cli_onnx(tmp_path, capsys) -> None:
    config = exported(tiny_arch())
    dump_model(config, tmp_path / "c.yaml")
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "c.yaml"), "--epochs", "0.1", "--onnx", "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    assert (out / "model.onnx").exists()
    payload = torch.load(out / "model.pt", weights_only=True)
    model = build_model(ExportConfig.model_validate(payload["config"]).arch)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    x = torch.randn(5, 3, SIZE, SIZE)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), atol=1e-4, rtol=1e-3)

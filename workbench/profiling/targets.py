"""Latency targets: the named (engine, precision, device, threads, protocol) a trial is timed on.

A space's `latency` section is either one PyTorch protocol (the form every earlier study used;
its one target is named `torch`) or shared protocol settings plus `targets`, each a name with an
engine (`torch` or `onnxruntime`), a precision (`fp32`, or `int8` on onnxruntime) and protocol
settings of its own. The first target is the one `latency_ms` means.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from workbench.engines.quantize import INT8_DEVICES, QuantSettings, quantization_for
from workbench.errors import WorkbenchError
from workbench.profiling.protocol import LatencyProtocol, resolve_device

ENGINES = ("torch", "onnxruntime")
PREDICTED = "predictor"  # the engine of a target predicted for an imported device (`{predictor: pi5}`)
PRECISIONS = ("fp32", "int8")
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
SINGLE_TARGET = "torch"
# Target settings that are not part of a PyTorch `LatencyProtocol`.
TARGET_KEYS = ("engine", "precision", "graph_optimization", "calibration", "opset", "predictor", "int8_for")
DEFAULT_CALIBRATION = 64  # training images the int8 activation ranges are calibrated on


@dataclass(frozen=True)
class LatencyTarget:
    """One named latency target. `protocol` carries the shared timing settings (warm-up,
    repeats, time cap, CV threshold, batch size, threads); for onnxruntime its device is the CPU
    and its mode `deploy` (the BN-folded graph `workbench train --onnx` ships).

    Example:
        >>> t = parse_targets({"targets": {"ort-int8": {"engine": "onnxruntime", "precision": "int8"}}})[0]
        >>> t.name, t.engine, t.precision, t.protocol.threads, t.calibration
        ('ort-int8', 'onnxruntime', 'int8', 1, 64)
    """

    name: str
    engine: str
    precision: str
    protocol: LatencyProtocol
    graph_optimization: str = "all"
    calibration: int = DEFAULT_CALIBRATION
    opset: int = 17
    predictor: str | None = None  # the imported device a predicted target is predicted for
    int8_for: str = "any"  # the device family int8 files are quantized for (`engines.quantize`)

    @property
    def quantization(self) -> QuantSettings:
        """The int8 settings for the target's device (not the host's)."""
        return quantization_for(self.int8_for)

    @property
    def is_predicted(self) -> bool:
        return self.engine == PREDICTED

    @property
    def is_torch(self) -> bool:
        return self.engine == "torch"

    @property
    def is_int8(self) -> bool:
        return self.precision == "int8"

    def settings(self) -> dict[str, Any]:
        """What the study stores about the target (its protocol and engine settings)."""
        if self.is_predicted:
            return {"engine": self.engine, "predictor": self.predictor, "precision": self.precision}
        data = {"engine": self.engine, "precision": self.precision, **self.protocol.to_dict()}
        if not self.is_torch:
            data.update(graph_optimization=self.graph_optimization, opset=self.opset)
        if self.is_int8:
            data.update(calibration=self.calibration, quantization=self.quantization.to_dict())
        return data


def parse_targets(section: dict[str, Any] | None, device: str | None = None) -> list[LatencyTarget]:
    """The targets of a space's `latency` section (empty for `latency: null`); `device` replaces
    the torch targets' device (`auto` is CUDA when present).

    Raises:
        WorkbenchError: `latency.targets.<name>.<field>: ...` naming the allowed values.
    """
    if section is None:
        return []
    shared = {k: v for k, v in section.items() if k != "targets"}
    if "targets" not in section:
        return [_target(SINGLE_TARGET, {"engine": "torch", **shared}, {}, device, "latency")]
    targets = section["targets"]
    if not isinstance(targets, dict) or not targets:
        raise WorkbenchError("latency.targets: give a mapping of target names to settings, e.g. "
                             "{torch-cpu: {engine: torch}, ort-cpu: {engine: onnxruntime}}")
    parsed = []
    for name, settings in targets.items():
        if not isinstance(settings, dict):
            raise WorkbenchError(f"latency.targets.{name}: give the target's settings as a mapping")
        if ":" in str(name) or not str(name).strip():
            raise WorkbenchError(f"latency.targets: target name '{name}' must be non-empty and without ':'")
        parsed.append(_target(str(name), settings, shared, device, f"latency.targets.{name}"))
    return parsed


def _target(name: str, settings: dict[str, Any], shared: dict[str, Any], device: str | None,
            where: str) -> LatencyTarget:
    if "predictor" in settings:
        return _predicted(name, settings, where)
    merged = {**shared, **settings}
    engine = merged.pop("engine", "torch")
    precision = merged.pop("precision", "fp32")
    _choice(where, "engine", engine, ENGINES)
    _choice(where, "precision", precision, PRECISIONS)
    if engine == "torch" and precision == "int8":
        raise WorkbenchError(f"{where}.precision: int8 needs engine onnxruntime (allowed for torch: fp32)")
    optimization = merged.pop("graph_optimization", "all")
    _choice(where, "graph_optimization", optimization, OPTIMIZATION_LEVELS)
    calibration = merged.pop("calibration", DEFAULT_CALIBRATION)
    opset = merged.pop("opset", 17)
    int8_for = merged.pop("int8_for", "any")
    _choice(where, "int8_for", int8_for, INT8_DEVICES)
    if not isinstance(calibration, int) or calibration < 1:
        raise WorkbenchError(f"{where}.calibration: give a number of calibration images >= 1, got {calibration!r}")
    if engine == "onnxruntime":
        for key, only in (("device", ("cpu", "auto")), ("mode", ("deploy",)), ("dtype", ("fp32",))):
            if key in settings and settings[key] not in only:
                raise WorkbenchError(f"{where}.{key}: onnxruntime targets run '{only[0]}' here, got "
                                     f"'{settings[key]}'")
        merged.update(device="cpu", mode="deploy", dtype="fp32", cuda_graphs=False)
        merged["threads"] = merged.get("threads") or 1  # ORT's own default is every core: never implicit
    else:
        merged["device"] = resolve_device(device or merged.get("device", "auto"))
        merged.setdefault("cuda_graphs", merged["device"] == "cuda")
    try:
        protocol = LatencyProtocol.from_dict(merged)
    except (WorkbenchError, TypeError) as error:
        raise WorkbenchError(f"{where}: {error}") from None
    return LatencyTarget(name=name, engine=engine, precision=precision, protocol=protocol,
                         graph_optimization=optimization, calibration=calibration, opset=int(opset),
                         int8_for=int8_for)


def _predicted(name: str, settings: dict[str, Any], where: str) -> LatencyTarget:
    """A target predicted for an imported device: `{predictor: pi5, precision: fp32 | int8}`."""
    unknown = sorted(set(settings) - {"predictor", "precision", "engine"})
    if unknown:
        raise WorkbenchError(f"{where}.{unknown[0]}: a predicted target takes only predictor and precision")
    if settings.get("engine", PREDICTED) != PREDICTED:
        raise WorkbenchError(f"{where}.engine: a target with 'predictor' is predicted; leave engine out")
    device = settings["predictor"]
    if not isinstance(device, str) or not device.strip():
        raise WorkbenchError(f"{where}.predictor: give an imported device's name (workbench device list)")
    precision = settings.get("precision", "fp32")
    _choice(where, "precision", precision, PRECISIONS)
    return LatencyTarget(name=name, engine=PREDICTED, precision=precision, protocol=LatencyProtocol(),
                         predictor=device)


def _choice(where: str, field: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise WorkbenchError(f"{where}.{field}: '{value}' is not one of: {', '.join(allowed)}")


def with_protocol(target: LatencyTarget, **update: Any) -> LatencyTarget:
    """A copy of `target` with protocol settings replaced (e.g. the CLI's batch size)."""
    return replace(target, protocol=replace(target.protocol, **update))

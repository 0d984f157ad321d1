"""`LatencyProtocol`: how a latency is taken, and the host facts recorded with every figure."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any

import torch

from workbench.errors import WorkbenchError
from workbench.profiling.hostfacts import check_threads, host_facts

DEVICES = ("cpu", "cuda")
# What a user may write: `auto` is resolved to a concrete device before a protocol is built.
DEVICE_CHOICES = ("auto", *DEVICES)
MODES = ("eager", "deploy", "compiled")
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Keys a recorded protocol carries besides the settings; `from_dict` accepts and drops them.
RECORDED_KEYS = ("device_name", "torch_version", "input_size", "timer", "attempts", "warmup_done", "estimator",
                 "rounds_done", "round_medians_ms", "round_minima_ms", "round_spread", "window_wait_s",
                 "load_avg_1m", "reference_model", "reference_ms", "reference_drift", "retimed", "isa", "cores")


@dataclass(frozen=True)
class LatencyProtocol:
    """The settings of one latency measurement (frozen, so a shared default cannot drift).

    `threads=None` means torch's thread count at call time; the count actually used is
    recorded in the result. Samples are taken in rounds of `repeats` (at most `rounds` rounds;
    `profiling.latency` says when it stops early); `max_seconds` caps the timed loop, though one
    round of at least a few samples is always taken. `reference` times the reference model in
    every round of the same window.

    Example:
        >>> p = LatencyProtocol(batch_size=32, dtype="bf16")
        >>> LatencyProtocol.from_dict(p.to_dict()) == p
        True
    """

    device: str = "cpu"
    mode: str = "deploy"
    dtype: str = "fp32"
    batch_size: int = 1
    channels_last: bool = False
    threads: int | None = None
    warmup: int = 10
    repeats: int = 20
    max_seconds: float = 2.0
    cv_threshold: float = 0.10
    cuda_graphs: bool = False
    rounds: int = 8
    reference: bool = True

    def __post_init__(self) -> None:
        for name, allowed in (("device", DEVICES), ("mode", MODES), ("dtype", tuple(DTYPES))):
            if getattr(self, name) not in allowed:
                raise WorkbenchError(f"latency {name} '{getattr(self, name)}' is not one of: {', '.join(allowed)}")
        if self.device == "cpu" and self.dtype == "fp16":
            raise WorkbenchError("dtype fp16 needs --device cuda; on the CPU use fp32 or bf16")
        if self.cuda_graphs and self.device != "cuda":
            raise WorkbenchError("cuda_graphs needs device 'cuda'")
        for name, low in (("batch_size", 1), ("warmup", 0), ("repeats", 1), ("rounds", 1)):
            if int(getattr(self, name)) < low:
                raise WorkbenchError(f"latency {name} must be at least {low}, got {getattr(self, name)}")
        if self.threads is not None:
            check_threads(self.threads)
        if self.max_seconds <= 0 or self.cv_threshold <= 0:
            raise WorkbenchError("max_seconds and cv_threshold must be positive")

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype named by `dtype`."""
        return DTYPES[self.dtype]

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LatencyProtocol":
        """Rebuild from `to_dict()` output or a recorded protocol (host facts are dropped)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - set(RECORDED_KEYS)
        if unknown:
            raise WorkbenchError(f"unknown latency protocol keys: {', '.join(sorted(unknown))} (allowed: "
                                 f"{', '.join(sorted(names))})")
        return cls(**{k: v for k, v in data.items() if k in names})


def resolve_device(device: str | None, *, indexed: bool = False) -> str:
    """The concrete device for a user's choice, the one definition every command uses: `auto`
    (or None) is CUDA when a GPU is present, else the CPU; `cpu` and `cuda` stay as they are
    (`check_device` refuses a missing GPU). `indexed=True` also accepts `cuda:N` (training
    may pick one GPU; a latency protocol names only the kind). Callers that need a
    `torch.device` wrap the result.

    Example:
        >>> resolve_device("cpu")
        'cpu'
        >>> resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
        True
        >>> resolve_device("cuda:1", indexed=True)
        'cuda:1'
    """
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, colon, index = device.partition(":")
    if device in DEVICES or (indexed and kind == "cuda" and colon and index.isdigit()):
        return device
    allowed = (*DEVICE_CHOICES, "cuda:N") if indexed else DEVICE_CHOICES
    raise WorkbenchError(f"device '{device}' is not one of: {', '.join(allowed)}")


def check_device(device: str) -> None:
    """Refuse a CUDA device (`cuda` or `cuda:N`) on a host without a usable GPU."""
    if device.partition(":")[0] == "cuda" and not torch.cuda.is_available():
        raise WorkbenchError("device 'cuda' was asked for but no CUDA GPU is available here (use --device cpu)")


@lru_cache(maxsize=None)
def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: str) -> str:
    """A human name of the device a protocol runs on.

    Example:
        >>> isinstance(device_name("cpu"), str)
        True
    """
    if device == "cuda":
        check_device(device)
        return torch.cuda.get_device_name()
    return cpu_name()


def recorded_protocol(protocol: LatencyProtocol, input_size: int, threads: int | None = None,
                      **extra: Any) -> dict[str, Any]:
    """The protocol as it is stored next to a figure: settings plus device name, torch
    version, input size and the thread count actually used."""
    record = protocol.to_dict()
    record.update(
        device_name=device_name(protocol.device),
        torch_version=torch.__version__,
        input_size=input_size,
        threads=threads if threads is not None else (protocol.threads or torch.get_num_threads()),
        **host_facts(),
    )
    record.update(extra)
    return record

"""The host facts that change a cost figure: the instruction-set extensions the int8 and fp32
kernels dispatch on, and the load when a measurement starts.

x86: `avx2`, `avx512` (AVX-512 F), `vnni` (AVX512-VNNI or AVX-VNNI: the int8 dot product
without the u8 x s8 saturating path). arm: `neon` (ASIMD), `dotprod` (SDOT/UDOT), `i8mm`
(int8 matrix multiply). Read from /proc/cpuinfo's flags (Linux); elsewhere the facts are
unknown (None), never guessed.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from workbench.errors import WorkbenchError

X86_MACHINES = ("x86_64", "amd64", "i386", "i686")
ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv8l")


@dataclass(frozen=True)
class IsaFacts:
    """What the CPU offers the kernels; a flag is None where it could not be read.

    Example:
        >>> IsaFacts.from_flags("x86_64", {"avx2", "avx512f"}).vnni
        False
        >>> IsaFacts.from_flags("aarch64", {"asimd", "asimddp"}).dotprod
        True
    """

    arch: str  # "x86", "arm" or "other"
    avx2: bool | None = None
    avx512: bool | None = None
    vnni: bool | None = None
    neon: bool | None = None
    dotprod: bool | None = None
    i8mm: bool | None = None

    @classmethod
    def from_flags(cls, machine: str, flags: set[str] | None) -> "IsaFacts":
        """The facts of a CPU of `machine` (platform.machine()) with /proc/cpuinfo `flags`
        (None when unreadable)."""
        arch = arch_family(machine)
        if flags is None:
            return cls(arch)
        if arch == "x86":
            return cls(arch, avx2="avx2" in flags, avx512="avx512f" in flags,
                       vnni=bool({"avx512_vnni", "avx_vnni"} & flags))
        if arch == "arm":
            return cls(arch, neon=bool({"asimd", "neon"} & flags), dotprod="asimddp" in flags, i8mm="i8mm" in flags)
        return cls(arch)

    def to_dict(self) -> dict[str, Any]:
        """Only the facts of this CPU's family (an x86 record carries no arm flags)."""
        keep = {"x86": ("avx2", "avx512", "vnni"), "arm": ("neon", "dotprod", "i8mm")}.get(self.arch, ())
        return {"arch": self.arch, **{k: v for k, v in asdict(self).items() if k in keep}}


def arch_family(machine: str) -> str:
    """`x86`, `arm` or `other` for a `platform.machine()` string.

    Example:
        >>> arch_family("AMD64"), arch_family("aarch64"), arch_family("riscv64")
        ('x86', 'arm', 'other')
    """
    machine = machine.lower()
    if machine in X86_MACHINES:
        return "x86"
    if machine in ARM_MACHINES or machine.startswith("arm"):
        return "arm"
    return "other"


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The first CPU's feature flags (`flags` on x86, `Features` on arm), or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.split())
    except OSError:
        return None
    return None


@lru_cache(maxsize=None)
def host_isa() -> IsaFacts:
    """This host's instruction-set facts (read once per process)."""
    return IsaFacts.from_flags(platform.machine(), cpu_flags())


def load_average() -> float | None:
    """The 1-minute load average now (None where the OS does not say)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_threads(threads: int, name: str = "threads") -> None:
    """Refuse a CPU thread count outside 1..`usable_cores()`, naming the setting.

    Raises:
        WorkbenchError: `threads` is below 1 or above this host's cores.
    """
    if not 1 <= threads <= usable_cores():
        raise WorkbenchError(f"{name} must be between 1 and this host's {usable_cores()} cores, got {threads}")


def host_facts() -> dict[str, Any]:
    """What every latency protocol records about the host: its ISA facts, the load at the
    start, and the cores this process may use."""
    return {"isa": host_isa().to_dict(), "load_avg_1m": load_average(), "cores": usable_cores()}

"""`workbench profile`: parameters, MACs, fvcore FLOPs, latency and peak memory of a preset
or an ArchConfig file, with the protocol every latency was taken under."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from typing import Any, Callable, TypeVar

from workbench.cli.common import add_arch_arguments, human, print_json, print_table, resolve_arch
from workbench.errors import WorkbenchError

DEFAULT_BATCH_SIZES = (1, 32)
LATENCY_COLUMNS = ["batch", "mode", "dtype", "p50_ms", "p90_ms", "cv", "samples", "noisy"]
LAYER_COLUMNS = ["module", "depth", "params", "macs", "flops_fvcore", "activations"]

T = TypeVar("T")

NAME = "profile"
HELP = "measure a preset or an ArchConfig file"


def register(subparsers: argparse._SubParsersAction) -> None:
    from workbench.profiling.protocol import DEVICE_CHOICES, DTYPES, MODES, LatencyProtocol

    parser = subparsers.add_parser(NAME, help=HELP)
    add_arch_arguments(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--latency", action=argparse.BooleanOptionalAction, default=True, help="time the model "
                                                                                               "(default: on)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="auto (default: CUDA when present), "
                                                                                 "cpu or cuda")
    parser.add_argument("--batch-size", action="append", metavar="N[,N...]",
                        help="batch sizes to time; repeatable or comma list (default: "
                             f"{','.join(map(str, DEFAULT_BATCH_SIZES))})")
    parser.add_argument("--mode", choices=MODES, default="deploy", help="eager, deploy (BatchNorm folded; default) or "
                                                                        "compiled")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="fp32")
    parser.add_argument("--channels-last", action="store_true", help="time in channels_last memory format")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads while timing (default 1, as a search "
                        "times: one thread repeats on a busy machine; more, up to this host's cores, time the "
                        "model as a multi-threaded deployment runs it)")
    parser.add_argument("--warmup", type=int, default=LatencyProtocol.warmup, help="most warm-up iterations")
    parser.add_argument("--repeats", type=int, default=LatencyProtocol.repeats, help="timed iterations per round")
    parser.add_argument("--rounds", type=int, default=LatencyProtocol.rounds, help="most rounds; the figure is the "
                        "median of the quietest round (default %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=LatencyProtocol.max_seconds, help="time cap per latency "
                                                                                               "figure")
    parser.add_argument("--engine", choices=("torch", "onnxruntime"), default="torch",
                        help="time in PyTorch (default) or in ONNX Runtime on the BN-folded ONNX graph")
    parser.add_argument("--int8", action="store_true", help="with --engine onnxruntime: time the int8 model "
                        "(static QDQ quantization, per-channel weights)")
    parser.add_argument("--data", help="with --int8: the dataset whose training images calibrate the int8 ranges "
                        "(default: seeded random images)")
    parser.add_argument("--crosscheck", action=argparse.BooleanOptionalAction, default=True,
                        help="verify MACs with torch's FlopCounterMode (default: on)")
    parser.add_argument("--per-layer", action="store_true", help="also print the per-module breakdown")
    parser.add_argument("--depth", type=int, default=3, help="deepest module level in --per-layer (default: 3)")
    parser.set_defaults(handler=run)


def parse_batch_sizes(values: list[str] | None) -> list[int]:
    """`["1,32", "8"]` -> `[1, 32, 8]`; the default when none are given."""
    if not values:
        return list(DEFAULT_BATCH_SIZES)
    sizes = []
    for item in ",".join(values).split(","):
        try:
            size = int(item)
        except ValueError:
            raise WorkbenchError(f"--batch-size expects positive integers, got '{item}'") from None
        if size < 1:
            raise WorkbenchError(f"--batch-size expects positive integers, got '{item}'")
        sizes.append(size)
    return sizes


def run(args: argparse.Namespace) -> int:
    from workbench.cli.profile_engine import check_engine_arguments, engine_latencies
    from workbench.models import build_model
    from workbench.profiling import count_model, measure_latency, profile_arch
    from workbench.profiling.protocol import LatencyProtocol, check_device, recorded_protocol, resolve_device

    check_engine_arguments(args)
    args.device = "cpu" if args.engine == "onnxruntime" else resolve_device(args.device)
    check_device(args.device)
    arch = resolve_arch(args)
    sizes = parse_batch_sizes(args.batch_size)
    protocol = LatencyProtocol(device=args.device, mode=args.mode, dtype=args.dtype, batch_size=sizes[0],
                               channels_last=args.channels_last, threads=args.threads, warmup=args.warmup,
                               repeats=args.repeats, max_seconds=args.max_seconds, rounds=args.rounds)
    model = build_model(arch)
    on_torch = args.latency and args.engine == "torch"
    first = protocol.batch_size if on_torch else LatencyProtocol.batch_size
    result = at_batch_size(first, args.device, lambda: profile_arch(arch, protocol if on_torch else None,
                                                                      model=model, crosscheck=args.crosscheck))
    latencies = [result.latency] if result.latency else []
    if on_torch:
        latencies += [at_batch_size(size, args.device,
                                    lambda size=size: measure_latency(model, arch, replace(protocol, batch_size=size)))
                      for size in sizes[1:]]
    elif args.latency:
        latencies = engine_latencies(model, arch, args, sizes)
    report = _report(arch, result, latencies, recorded_protocol(protocol, arch.input_size))
    if args.format == "json":
        if args.per_layer:
            report["layers"] = count_model(model, arch).by_module(args.depth)
        print_json(report)
        return 0
    _print_tables(report, latencies)
    if args.per_layer:
        rows = count_model(model, arch).by_module(args.depth)
        print()
        print_table([{**r, "module": "  " * r["depth"] + (r["module"] or "(model)"), "params": human(r["params"]),
                      "macs": human(r["macs"]), "flops_fvcore": human(r["flops_fvcore"]),
                      "activations": human(r["activations"])} for r in rows], LAYER_COLUMNS)
    return 0


def at_batch_size(size: int, device: str, measure: Callable[[], T]) -> T:
    """`measure()` at batch size `size`; running out of memory there is one line naming the size."""
    from workbench.errors import is_out_of_memory

    try:
        return measure()
    except (RuntimeError, MemoryError) as error:  # torch's OutOfMemoryError is a RuntimeError
        if not is_out_of_memory(error):
            raise
        raise WorkbenchError(out_of_memory_line(size, device, error)) from None


def out_of_memory_line(size: int, device: str, error: BaseException) -> str:
    """The refusal of a batch size that does not fit in memory, with the allocation that failed.

    Example:
        >>> out_of_memory_line(4096, "cpu", RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried "
        ...                                              "to allocate 13510798882111488 bytes. Error code 12"))
        '--batch-size 4096: out of memory on cpu (an allocation of 12.0 PiB failed); try a smaller batch size'
        >>> out_of_memory_line(2048, "cuda", RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 ..."))
        '--batch-size 2048: out of memory on cuda (an allocation of 20.00 GiB failed); try a smaller batch size'
    """
    cpu = re.search(r"allocate (\d+) bytes", str(error))
    cuda = re.search(r"[Tt]ried to allocate ([\d.]+ \w+)", str(error))
    asked = _binary_bytes(int(cpu.group(1))) if cpu else cuda.group(1) if cuda else None
    detail = f" (an allocation of {asked} failed)" if asked else ""
    return f"--batch-size {size}: out of memory on {device}{detail}; try a smaller batch size"


def _binary_bytes(count: int) -> str:
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            break
        value /= 1024
    return f"{value:.1f} {unit}"


def _report(arch: Any, result: Any, latencies: list[Any], protocol: dict[str, Any]) -> dict[str, Any]:
    first = latencies[0] if latencies else None
    return {
        "name": arch.name,
        "input_size": arch.input_size,
        "params": result.params,
        "macs": result.macs,
        "flops_fvcore": result.flops_fvcore,
        "activations": result.activations,
        "unsupported_ops": result.unsupported_ops,
        "latency_ms": _headline(first) if first else None,
        "latency": [lat.to_dict() for lat in latencies],
        "device": protocol["device"],
        "device_name": protocol["device_name"],
        "protocol": first.protocol if first else protocol,
        "peak_memory_bytes": result.peak_memory_bytes,
        "peak_memory_method": result.peak_memory_method,
        "crosscheck_macs": result.crosscheck_macs,
        "crosscheck_rel_diff": result.crosscheck_rel_diff,
        "crosscheck_ok": result.crosscheck_ok,
        "profile_seconds": result.profile_seconds,
    }


def _headline(latency: Any) -> dict[str, Any]:
    data = latency.to_dict()
    return {"p50": data["p50_ms"], "p90": data["p90_ms"], "mean": data["mean_ms"], "std": data["std_ms"],
            "cv": data["cv"], "samples": data["samples"], "noisy": data["noisy"],
            "batch_size": latency.protocol["batch_size"], "available": data["available"], "reason": data["reason"]}


def _print_tables(report: dict[str, Any], latencies: list[Any]) -> None:
    print_table([{**report, **{k: human(report[k]) for k in ("params", "macs", "flops_fvcore", "activations")},
                  "peak_memory": human(report["peak_memory_bytes"]) + "B"}],
                ["name", "input_size", "params", "macs", "flops_fvcore", "activations", "peak_memory"])
    if latencies:
        print()
        print_table([_latency_row(lat) for lat in latencies], LATENCY_COLUMNS)
        p = report["protocol"]
        if p.get("engine") == "onnxruntime":
            print(f"\nlatency: ms per batch on {p['device_name']}, onnxruntime {p.get('engine_version', '?')} "
                  f"{p.get('execution_provider', '')}, {p['threads']} intra-op thread(s), sequential, graph "
                  f"optimisation {p['graph_optimization']}, opset {p['opset']}")
            if p.get("quantization"):
                q = p["quantization"]
                print(f"int8: {q['format']}, per-channel {q['weight_type']} weights, {q['activation_type']} "
                      f"activations ({q['calibration_method']}), reduce_range={q.get('reduce_range')} (for "
                      f"{q.get('device', 'any')} CPUs), calibrated on {p.get('calibration_images')} "
                      f"{p.get('calibration_source', 'images')}")
        else:
            print(f"\nlatency: ms per batch on {p['device_name']} ({p['device']}), torch {p['torch_version']}, "
                  f"channels_last={p['channels_last']}")
        print(protocol_lines(p, any(lat.noisy for lat in latencies if lat.available)))
    print("macs = conv/linear multiply-accumulates (the GhostNet paper's 'FLOPs'); "
          "flops_fvcore = fvcore's total incl. BatchNorm, pooling, elementwise ops.")
    print(f"peak memory: {report['peak_memory_method']}")
    if report["unsupported_ops"]:
        print("not counted: " + ", ".join(f"{op} x{n}" for op, n in report["unsupported_ops"].items()))
    if report["crosscheck_ok"] is not None:
        verdict = "agrees" if report["crosscheck_ok"] else "DISAGREES"
        print(f"FlopCounterMode cross-check {verdict}: {human(report['crosscheck_macs'])} MACs "
              f"({report['crosscheck_rel_diff']:.2%} apart)")


def protocol_lines(p: dict[str, Any], noisy: bool) -> str:
    """The human lines every profile prints under its latency table: threads, the estimator,
    the reference, the load and the ISA facts, and what to do about a noisy figure.

    Example:
        >>> print(protocol_lines({"threads": 1, "device": "cpu", "estimator": "min-round-median", "rounds_done": 3,
        ...                       "repeats": 20, "load_avg_1m": 0.5, "isa": {"arch": "x86", "avx2": True}}, False))
        threads: 1 (ask for more with --threads N); estimator min-round-median over 3 rounds of 20; load 0.50; x86 avx2
    """
    threads = f"threads: {p.get('threads')}" + (" (ask for more with --threads N)" if p.get("threads") == 1 else "")
    if p.get("device") == "cuda":
        threads = "threads: n/a on cuda"
    isa = p.get("isa") or {}
    flags = " ".join(k for k, v in isa.items() if v is True)
    line = (f"{threads}; estimator {p.get('estimator', 'median')} over {p.get('rounds_done', 1)} rounds of "
            f"{p.get('repeats')}; load {p.get('load_avg_1m') or 0:.2f}; {isa.get('arch', '?')} {flags}".rstrip())
    if p.get("reference_ms") is not None:
        line += f"\nreference model {p.get('reference_model')}: {p['reference_ms']:.3f} ms in the same window"
    if noisy:
        line += ("\nNOISY: the rounds disagree or spread beyond the threshold; the machine is busy. Close other "
                 "work, keep --threads 1, or raise --rounds / --max-seconds.")
    return line


def _latency_row(latency: Any) -> dict[str, Any]:
    p = latency.protocol
    row = {"batch": p["batch_size"], "mode": p["mode"], "dtype": p.get("precision") if "engine" in p and
           p["engine"] != "torch" else p["dtype"]}
    if not latency.available:
        return {**row, "p50_ms": "unavailable", "p90_ms": latency.reason}
    return {**row, "p50_ms": f"{latency.p50_ms:.3f}", "p90_ms": f"{latency.p90_ms:.3f}", "cv": f"{latency.cv:.3f}",
            "samples": latency.samples, "noisy": "NOISY" if latency.noisy else "no"}

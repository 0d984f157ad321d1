"""The study runner: create or resume a study, pick the sampler, run workers, summarise.

* Storage: `sqlite:///workbench.db` by default; a journal file (`*.log`, `journal:PATH`) for
  several local worker processes; PostgreSQL for several machines (heartbeats fail a dead
  worker's trial and the study goes on).
* Totals: `trials` and `timeout` count what the study already holds, so running the same
  command again continues where it stopped. The total is exact with several workers: each
  worker counts the study's trials and asks for a new one under one lock (a file lock next to
  a journal, a PostgreSQL advisory lock on PostgreSQL).
* A trial found RUNNING when a local (SQLite/journal) run starts belonged to a worker that
  died; it is marked FAIL and does not count toward the total.
* Seed noise: when the space has `noise:`, the study's seed noise is measured (or completed)
  after the trials end, unless the run was interrupted (`search.noise`).
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench import __version__, record
from workbench.config.io import to_plain
from workbench.errors import WorkbenchError
from workbench.search.noise import measure_noise, stored_noise
from workbench.search.objective import TrialContext, TrialFailed, run_trial
from workbench.search.space import SearchSpace, parse_space
from workbench.storage import journal_path, normalise_url, open_storage, sqlite_path

SAMPLERS = ("tpe", "nsga2", "nsga3", "gp", "random")
DEFAULT_HEARTBEAT_S = 30
_INTERRUPTED = "interrupted"


# --- samplers and pruners -------------------------------------------------------------
def make_sampler(name: str, seed: int | None, *, n_trials: int | None = None, parallel: bool = False) -> optuna.samplers.BaseSampler:
    """The named sampler, seeded. Constraints are read from `trial.set_constraint` values
    (Optuna 5), so no `constraints_func` is passed.

    Example:
        >>> make_sampler("tpe", 0).__class__.__name__
        'TPESampler'
    """
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=parallel, n_startup_trials=8)
    if name == "nsga2":
        population = max(4, min(50, (n_trials or 100) // 5))
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)
    if name == "nsga3":
        population = max(4, min(50, (n_trials or 100) // 5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.NSGAIIISampler(seed=seed, population_size=population)
    if name == "gp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=8)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise WorkbenchError(f"unknown sampler '{name}' (allowed: {', '.join(SAMPLERS)})")


def make_pruner(space: SearchSpace) -> optuna.pruners.BasePruner:
    """MedianPruner on per-epoch validation accuracy for single-objective proxy-trained
    studies; no pruning otherwise (Optuna cannot prune multi-objective trials)."""
    if space.single_objective and space.pruner == "median" and space.accuracy.source == "proxy":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    return optuna.pruners.NopPruner()


# --- study creation / resume ------------------------------------------------------------
def study_attrs(space: SearchSpace, device_name: str, protocol: Any) -> dict[str, Any]:
    """The study-level record (record.STUDY_*)."""
    latency = dict(protocol.to_dict(), device_name=device_name) if protocol is not None else None
    return {
        record.STUDY_SPACE_FILE: space.source,
        record.STUDY_SPACE_HASH: space.space_hash(),
        record.STUDY_SPACE: to_plain(space),
        record.STUDY_DATASET: space.dataset,
        record.STUDY_DEVICE: device_name,
        record.STUDY_OBJECTIVES: space.metric_names,
        record.STUDY_BUDGETS: space.budgets.model_dump(),
        record.STUDY_LATENCY_PROTOCOL: latency,
        record.STUDY_WORKBENCH_VERSION: __version__,
    }


def open_search_study(space: SearchSpace, study_name: str, storage: str | None, *, device_name: str = "cpu",
                      protocol: Any = None, allow_space_change: bool = False, heartbeat: int | None = None) -> optuna.Study:
    """Create the study, or load it and check it was made from the same space."""
    url = normalise_url(storage)
    backend = _open(url, heartbeat)
    existing = _existing_names(backend)
    if study_name in existing:
        study = optuna.load_study(study_name=study_name, storage=backend)
        _check_resume(study, space, allow_space_change)
        if allow_space_change:
            for key, value in study_attrs(space, device_name, protocol).items():
                study.set_user_attr(key, value)
        return study
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=backend, directions=space.directions, load_if_exists=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(space.metric_names)
    for key, value in study_attrs(space, device_name, protocol).items():
        study.set_user_attr(key, value)
    return study


def _existing_names(backend: optuna.storages.BaseStorage) -> set[str]:
    return {s.study_name for s in backend.get_all_studies()}


def _check_resume(study: optuna.Study, space: SearchSpace, allow_space_change: bool) -> None:
    stored_names = study.metric_names or study.user_attrs.get(record.STUDY_OBJECTIVES)
    if stored_names and list(stored_names) != space.metric_names:
        raise WorkbenchError(
            f"study '{study.study_name}' optimises {list(stored_names)} but {space.source} asks for {space.metric_names}; "
            "objectives cannot change within a study (use another --study name)"
        )
    stored = study.user_attrs.get(record.STUDY_SPACE_HASH)
    if stored and stored != space.space_hash() and not allow_space_change:
        raise WorkbenchError(
            f"study '{study.study_name}' was made from a different space (stored {record.STUDY_SPACE_FILE}="
            f"{study.user_attrs.get(record.STUDY_SPACE_FILE)}, hash {stored[:12]}; {space.source} hashes to "
            f"{space.space_hash()[:12]}); use another --study name, or --allow-space-change to continue anyway"
        )


def _open(url: str, heartbeat: int | None) -> optuna.storages.BaseStorage:
    """Open for a search; heartbeats only on a database server (SQLite has one writer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return open_storage(url, create=True, heartbeat_interval=heartbeat if _is_rdb_server(url) else None)


def _is_rdb_server(url: str) -> bool:
    return "://" in url and not url.startswith("sqlite")


# --- counting toward the total ------------------------------------------------------------
def counts_toward_total(trial: FrozenTrial) -> bool:
    """Finished or running trials count; a FAIL without our record (a killed worker's
    trial, failed by a heartbeat or at the next start), an interrupted one, or a candidate the
    zero-cost pre-screen left out (never trained) does not."""
    if trial.state == TrialState.PRUNED and trial.user_attrs.get(record.STATUS) == "screened":
        return False
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING):
        return True
    status = trial.user_attrs.get(record.STATUS)
    reason = trial.user_attrs.get(record.REASON) or ""
    return status == "failed" and not reason.startswith(_INTERRUPTED)


def counted_trials(study: optuna.Study) -> int:
    """Trials of the study that count toward `--trials`."""
    return sum(counts_toward_total(t) for t in study.get_trials(deepcopy=False))


def spent_seconds(study: optuna.Study, workers: int = 1) -> float:
    """Search time already in the study (summed trial durations / workers), for `--timeout`."""
    total = sum(t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration is not None)
    return total / max(1, workers)


def fail_orphans(study: optuna.Study) -> int:
    """Mark RUNNING trials FAIL (only safe when no other run uses the storage: local
    SQLite/journal at the start of a run). Returns how many."""
    storage = study._storage
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:
            storage.set_trial_user_attr(trial._trial_id, record.REASON, "worker died (found running when a new run started)")
            if storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                count += 1
        except Exception:  # noqa: BLE001 - another process finished it first
            continue
    return count


# --- the lock around "count, then ask" ------------------------------------------------------
class _Lock:
    """Held from counting the study's trials until the new trial exists; idempotent release."""

    def __init__(self, acquire: Callable[[], Any], release: Callable[[], None]) -> None:
        self._acquire, self._release, self.held = acquire, release, False

    def __enter__(self) -> "_Lock":
        self._acquire()
        self.held = True
        return self

    def release(self) -> None:
        if self.held:
            self.held = False
            self._release()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def make_lock(url: str, backend: optuna.storages.BaseStorage, study_name: str) -> Callable[[], _Lock]:
    """A factory of locks that serialise count-and-ask across this study's workers."""
    journal = journal_path(url)
    if journal is not None:
        lock_file = Path(f"{journal}.workbench.lock")

        def file_lock() -> _Lock:
            handle = open(lock_file, "a+")

            def release() -> None:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()

            return _Lock(lambda: fcntl.flock(handle, fcntl.LOCK_EX), release)

        return file_lock
    if url.startswith("postgresql"):
        from sqlalchemy import text

        engine = backend.engine  # type: ignore[attr-defined]
        key = int.from_bytes(study_name.encode()[:7].ljust(7, b"\0"), "big") ^ 0x5742  # stable 63-bit key

        def pg_lock() -> _Lock:
            conn = engine.connect()

            def acquire() -> None:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})

            def release() -> None:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                finally:
                    conn.close()

            return _Lock(acquire, release)

        return pg_lock
    return lambda: _Lock(lambda: None, lambda: None)


# --- one worker ---------------------------------------------------------------------------
@dataclass
class WorkerConfig:
    """Everything a worker process needs (picklable)."""

    space_data: dict[str, Any]
    space_source: str
    space_base_dir: str | None
    study_name: str
    storage: str
    sampler: str
    seed: int
    total_trials: int | None
    deadline: float | None           # time.time() after which no new trial starts
    device: str = "cpu"
    worker_index: int = 0
    workers: int = 1
    threads: int | None = None
    heartbeat: int | None = None

    def space(self) -> SearchSpace:
        return parse_space(self.space_data, self.space_source, Path(self.space_base_dir) if self.space_base_dir else None)


def load_search_data(space: SearchSpace, device: str = "cpu") -> Any:
    """The dataset a space scores on, shaped like its base architecture, on `device`."""
    from workbench.data import load_dataset

    base = space.base_arch()
    data = load_dataset(space.dataset, input_size=base.input_size, in_channels=base.in_channels, seed=space.seed,
                        val_fraction=space.val_fraction)
    return data.to(device) if hasattr(data, "to") else data


def run_worker(cfg: WorkerConfig, *, data: Any = None, on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
               trainer: Callable[..., Any] | None = None) -> int:
    """Run trials on the study until the total, the deadline or an interrupt; returns the
    number of trials this worker ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    space = cfg.space()
    backend = _open(cfg.storage, cfg.heartbeat)
    seed = cfg.seed + cfg.worker_index * 10007
    sampler = make_sampler(cfg.sampler, seed, n_trials=cfg.total_trials, parallel=cfg.workers > 1)
    study = optuna.load_study(study_name=cfg.study_name, storage=backend, sampler=sampler, pruner=make_pruner(space))
    from workbench.profiling.protocol import device_name

    protocol = space.latency_protocol(cfg.device)
    data = data if data is not None else load_search_data(space, cfg.device)
    ctx = TrialContext(space=space, data=data, protocol=protocol, device=cfg.device, seed=cfg.seed,
                       device_name=device_name(cfg.device), trainer=trainer)
    new_lock = make_lock(normalise_url(cfg.storage), backend, cfg.study_name)
    callbacks = [lambda s, t: on_trial(s, t)] if on_trial else []
    ran = 0
    while cfg.deadline is None or time.time() < cfg.deadline:
        lock = new_lock()
        with lock:
            if cfg.total_trials is not None and counted_trials(study) >= cfg.total_trials:
                break

            def objective(trial: optuna.Trial) -> Any:
                lock.release()  # the trial exists now: other workers may count and ask
                return run_trial(trial, ctx)

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _quiet_optuna_warnings()
                study.optimize(objective, n_trials=1, catch=(TrialFailed,), callbacks=callbacks, gc_after_trial=False)
        ran += 1
    return ran


def _quiet_optuna_warnings() -> None:
    """Failed trials are recorded with their reason; Optuna's own warning line is noise."""
    logging.getLogger("optuna").setLevel(logging.ERROR)


def _worker_main(cfg: WorkerConfig) -> None:
    try:
        run_worker(cfg)
    except KeyboardInterrupt:
        pass


# --- the whole search ---------------------------------------------------------------------
@dataclass
class SearchSummary:
    """What a search run did and where the study stands."""

    study_name: str
    storage: str
    states: dict[str, int]
    statuses: dict[str, int]
    pareto: list[dict[str, Any]]
    best: dict[str, Any] | None
    ran: int
    seconds: float
    interrupted: bool = False
    orphans_failed: int = 0
    metric_names: list[str] = field(default_factory=list)
    noise: dict[str, Any] | None = None   # the study's `accuracy_noise` (sd, trials, seeds, samples)
    ladder: str = ""                      # `rung_text`: candidates past the screen and on each rung


def run_search(space: SearchSpace, *, study_name: str | None = None, storage: str | None = None, sampler: str = "tpe",
               trials: int | None = None, timeout: float | None = None, workers: int = 1, seed: int | None = None,
               device: str | None = None, allow_space_change: bool = False, progress: bool = True,
               heartbeat: int | None = DEFAULT_HEARTBEAT_S, trainer: Callable[..., Any] | None = None) -> SearchSummary:
    """Run (or continue) a search of `space` until the study holds `trials` counted trials
    or `timeout` seconds of search time, then measure the study's seed noise when the space
    asks for it (not after an interrupt; the timeout does not cover it).

    Example:
        >>> summary = run_search(load_space("digits"), trials=20)  # doctest: +SKIP
        >>> summary.pareto[0]["number"]  # doctest: +SKIP
    """
    from workbench.profiling.protocol import check_device, device_name, resolve_device

    started = time.time()
    if sampler not in SAMPLERS:
        raise WorkbenchError(f"unknown sampler '{sampler}' (allowed: {', '.join(SAMPLERS)})")
    if workers < 1:
        raise WorkbenchError(f"--workers must be at least 1, got {workers}")
    if trials is not None and trials < 1:
        raise WorkbenchError(f"--trials must be at least 1, got {trials}")
    url = normalise_url(storage)
    if workers > 1 and url.startswith("sqlite"):
        raise WorkbenchError(
            f"{workers} workers cannot share the SQLite storage '{url}' safely; use a journal file "
            "(--storage study.log) for local workers or a PostgreSQL URL for several machines"
        )
    device = resolve_device(device or (space.latency or {}).get("device", "auto"))
    check_device(device)
    seed = space.seed if seed is None else seed
    study_name = study_name or space.name or "search"
    protocol = space.latency_protocol(device)
    dev_name = device_name(device)
    check_latency_budget(space, protocol)
    study = open_search_study(space, study_name, url, device_name=dev_name, protocol=protocol,
                              allow_space_change=allow_space_change, heartbeat=heartbeat)
    orphans = fail_orphans(study) if not _is_rdb_server(url) else 0
    data = load_search_data(space, device)  # checks the dataset before any worker starts
    deadline = None if timeout is None else started + max(0.0, timeout - spent_seconds(study, workers))
    base_cfg = dict(space_data=to_plain(space), space_source=space.source,
                    space_base_dir=str(space._base_dir) if space._base_dir else None, study_name=study_name,
                    storage=url, sampler=sampler, seed=seed, total_trials=trials, deadline=deadline, device=device,
                    workers=workers, heartbeat=heartbeat if _is_rdb_server(url) else None)
    before = counted_trials(study)
    bar = _ProgressBar(study, trials, before, enabled=progress)
    interrupted = False
    try:
        if workers == 1:
            run_worker(WorkerConfig(**base_cfg), data=data, on_trial=bar.update, trainer=trainer)
        else:
            _run_processes(base_cfg, workers, bar, study)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if not interrupted:
        try:
            measure_noise(study, space, data, seed=seed, device=device, trainer=trainer, progress=progress)
        except KeyboardInterrupt:
            interrupted = True  # every re-scored trial so far is stored; the next run goes on
    summary = summarise(study, url, ran=counted_trials(study) - before, seconds=time.time() - started)
    summary.interrupted, summary.orphans_failed = interrupted, orphans
    summary.noise = stored_noise(study) or None
    return summary


def _run_processes(base_cfg: dict[str, Any], workers: int, bar: "_ProgressBar", study: optuna.Study) -> None:
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    processes = [context.Process(target=_worker_main, args=(WorkerConfig(**base_cfg, worker_index=i, threads=threads),), daemon=False)
                 for i in range(workers)]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            time.sleep(1.0)
            bar.refresh_from(study)
        bar.refresh_from(study)
    except KeyboardInterrupt:
        for process in processes:
            process.join(timeout=60)
        raise
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
    bad = [p.exitcode for p in processes if p.exitcode not in (0, None)]
    if bad:
        raise WorkbenchError(f"{len(bad)} of {workers} worker processes exited with errors (exit codes {bad}); the study keeps every finished trial")


def check_latency_budget(space: SearchSpace, protocol: Any) -> None:
    """Refuse a latency budget that even the cheapest corner of the space misses (measured
    with the space's protocol on the search device)."""
    limit = space.budgets.max_latency_ms
    if limit is None or protocol is None:
        return
    from workbench.profiling import profile_arch
    from workbench.search.sampling import arch_from_params
    from workbench.search.space import cheapest_corners

    best = None
    for params in cheapest_corners(space):
        arch = arch_from_params(space, params)
        result = profile_arch(arch, protocol)
        if result.latency is not None and result.latency.available:
            best = result.latency.p50_ms if best is None else min(best, result.latency.p50_ms)
    if best is not None and best > limit:
        raise WorkbenchError(
            f"{space.source}: budgets.max_latency_ms: no point of the space can meet {limit:g} ms: its cheapest corner "
            f"measures {best:.3g} ms (batch {protocol.batch_size}, {protocol.device})"
        )


# --- progress and summary -------------------------------------------------------------
class _ProgressBar:
    """tqdm over counted trials with the best feasible figures so far."""

    def __init__(self, study: optuna.Study, total: int | None, done: int, enabled: bool) -> None:
        self.study, self.bar = study, None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=min(done, total) if total else done, unit="trial", dynamic_ncols=True,
                            desc=f"search {study.study_name}")
        self.done = done

    def update(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.refresh_from(study)

    def refresh_from(self, study: optuna.Study) -> None:
        if self.bar is None:
            return
        trials = study.get_trials(deepcopy=False)
        done = sum(counts_toward_total(t) and t.state != TrialState.RUNNING for t in trials)
        if done > self.done:
            self.bar.update(done - self.done)
            self.done = done
        best = best_feasible(trials)
        text = " ".join(filter(None, [_best_text(best) if best is not None else "", rung_text(trials)]))
        if text:
            self.bar.set_postfix_str(text, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def best_feasible(trials: list[FrozenTrial]) -> dict[str, Any] | None:
    """The feasible completed trial with the best accuracy (ties: fewer MACs)."""
    pool = [t for t in trials if t.state == TrialState.COMPLETE and all(v <= 0 for v in t.constraints.values())
            and t.user_attrs.get(record.ACCURACY) is not None]
    if not pool:
        return None
    best = max(pool, key=lambda t: (t.user_attrs[record.ACCURACY], -(t.user_attrs.get(record.MACS) or 0)))
    attrs = best.user_attrs
    return {"number": best.number, "accuracy": attrs.get(record.ACCURACY), "macs": attrs.get(record.MACS),
            "params": attrs.get(record.PARAMS), "latency_ms": attrs.get(record.LATENCY_P50)}


def rung_text(trials: list[FrozenTrial]) -> str:
    """How many candidates reached each rung of a ladder (and passed the pre-screen), e.g.
    `screen 9/30 rungs 1:9 3:3`; empty for a study without either.

    Example:
        >>> rung_text([])
        ''
    """
    screened = sum(t.user_attrs.get(record.PRESCREEN_SCORE) is not None for t in trials)
    passed = sum(t.user_attrs.get(record.PRESCREEN_SCORE) is not None and t.user_attrs.get(record.STATUS) != "screened"
                  and t.state != TrialState.RUNNING for t in trials)
    reached: dict[float, int] = {}
    for trial in trials:
        for key in trial.user_attrs.get(record.ACCURACY_BY_RUNG) or {}:
            reached[float(key)] = reached.get(float(key), 0) + 1
    parts = [f"screen {passed}/{screened}"] if screened else []
    if reached:
        parts.append("rungs " + " ".join(f"{rung:g}:{count}" for rung, count in sorted(reached.items())))
    return " ".join(parts)


def _best_text(best: dict[str, Any]) -> str:
    parts = [f"best acc={best['accuracy']:.4g} (#{best['number']})"]
    if best.get("macs") is not None:
        parts.append(f"macs={best['macs'] / 1e6:.2f}M")
    if best.get("latency_ms") is not None:
        parts.append(f"lat={best['latency_ms']:.2f}ms")
    return " ".join(parts)


def summarise(study: optuna.Study, storage: str, *, ran: int = 0, seconds: float = 0.0) -> SearchSummary:
    """States, statuses, the Pareto trials (Optuna's `best_trials`) and the best feasible trial."""
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for trial in trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        status = trial.user_attrs.get(record.STATUS) or trial.state.name.lower()
        statuses[status] = statuses.get(status, 0) + 1
    names = study.metric_names or [f"value{i}" for i in range(len(study.directions))]
    if len(study.directions) > 1:
        front = study.best_trials
    else:
        feasible = [t for t in trials if t.state == TrialState.COMPLETE and all(v <= 0 for v in t.constraints.values())]
        front = [max(feasible, key=lambda t: t.value)] if feasible else []
    pareto = []
    for trial in sorted(front, key=lambda t: t.number):
        row = {"number": trial.number, **dict(zip(names, trial.values))}
        row.update({"accuracy": trial.user_attrs.get(record.ACCURACY), "macs": trial.user_attrs.get(record.MACS),
                    "params": trial.user_attrs.get(record.PARAMS), "latency_ms": trial.user_attrs.get(record.LATENCY_P50),
                    "knobs": trial.user_attrs.get(record.KNOBS)})
        pareto.append(row)
    return SearchSummary(study_name=study.study_name, storage=storage, states=states, statuses=statuses, pareto=pareto,
                         best=best_feasible(trials), ran=ran, seconds=seconds, metric_names=list(names),
                         ladder=rung_text(trials))

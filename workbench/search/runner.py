"""`run_search`: one search command, from checks to summary.

The order keeps mistakes cheap: arguments, that a SQLite or journal storage can be written
(`workbench.storage.check_writable_storage`), device and latency budget are checked and the data
loaded before any study exists; the whole run holds SQLite's one-writer lock
(`workbench.storage.exclusive_run`) and turns read-only or locked storages into one line
(`workbench.storage.storage_errors`). Then the study is created or resumed
(`workbench.search.study`), dead workers' trials are failed, the workers run
(`workbench.search.workers`), the study's seed noise is measured when the space asks for it
(`workbench.search.seed_noise`), and the summary is read through `workbench.results`
(`workbench.search.summary`).

The space is resolved once here (`workbench.search.space_resolve`) and carried down. Workers:
one process per core by default (`workers="auto"` from the CLI), each with `threads` torch
threads; the command's own process trains with `threads` too. Ctrl-C and SIGTERM stop the run
(`workbench.search.stop`).

Storages: `sqlite:///workbench.db` by default, served by this process to its own workers over
gRPC (`workbench.storage.serve_storage`: SQLite keeps one writer); a journal file (`*.log`,
`journal:PATH`) for several commands side by side; PostgreSQL for several machines (heartbeats
fail a dead worker's trial and the study goes on).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from workbench import record
from workbench.errors import WorkbenchError
from workbench.profiling.hostfacts import usable_cores
from workbench.profiling.protocol import check_device, device_name, resolve_device
from workbench.profiling.window import search_window
from workbench.record import TrialRecord
from workbench.search.optuna_samplers import SAMPLERS
from workbench.search.seed_noise import measure_noise, stored_noise
from workbench.search.space import SearchSpace
from workbench.search.space_check import check_latency_budget
from workbench.search.space_resolve import ResolvedSpace, resolve_space
from workbench.search.stop import stop_on_signals
from workbench.search.study import check_study_name, is_database_server, open_search_study
from workbench.search.summary import ProgressBar, SearchSummary, summarise
from workbench.search.threads import set_torch_threads
from workbench.search.workers import (
    WorkerConfig,
    counted_trials,
    counts_toward_total,
    load_search_data,
    run_processes,
    run_worker,
    spent_seconds,
)
from workbench.storage import (
    check_writable_storage,
    exclusive_run,
    fail_running,
    normalise_url,
    serve_storage,
    sqlite_path,
    storage_errors,
    study_storage,
)

DEFAULT_HEARTBEAT_S = 30


def run_search(space: SearchSpace, *, study_name: str | None = None, storage: str | None = None, sampler: str = "tpe",
               trials: int | None = None, timeout: float | None = None, workers: int | str = 1, threads: int = 1,
               seed: int | None = None,
               device: str | None = None, allow_space_change: bool = False, progress: bool = True,
               heartbeat: int | None = DEFAULT_HEARTBEAT_S, trainer: Callable[..., Any] | None = None) -> SearchSummary:
    """Run (or continue) a search of `space` until the study holds `trials` counted trials
    or `timeout` seconds of search time, then measure the study's seed noise when the space
    asks for it (not after an interrupt; the timeout does not cover it).

    Example:
        One trial of the digits space, trained for a twentieth of an epoch:

        >>> import tempfile
        >>> from workbench.search import load_space
        >>> space = load_space("digits").replace(recipe={"epochs": 0.05}, noise=None)
        >>> summary = run_search(space, trials=1, storage=f"sqlite:///{tempfile.mkdtemp()}/s.db", progress=False)
        >>> summary.ran, sorted(summary.states)
        (1, ['COMPLETE'])
    """
    started = time.time()
    if sampler not in SAMPLERS:
        raise WorkbenchError(f"unknown sampler '{sampler}' (allowed: {', '.join(SAMPLERS)})")
    if trials is not None and trials < 1:
        raise WorkbenchError(f"--trials must be at least 1, got {trials}")
    if timeout is not None and not timeout > 0:
        raise WorkbenchError(f"--timeout must be more than 0 seconds, got {timeout:g}")
    workers = worker_count(workers, trials)
    if threads < 1:
        raise WorkbenchError(f"--threads must be at least 1, got {threads}")
    url = normalise_url(storage)
    check_writable_storage(url)  # a read-only or unreachable file fails before the data are loaded
    device = resolve_device(device or (space.latency or {}).get("device", "auto"))
    check_device(device)
    seed = space.seed if seed is None else seed
    study_name = space.name or "search" if study_name is None else study_name
    check_study_name(study_name)
    resolved = resolve_space(space, device=device, seed=seed)
    dev_name = device_name(device)
    check_latency_budget(resolved)
    data = load_search_data(resolved, device)  # a wrong --data fails here, before a study exists
    with stop_on_signals(), storage_errors(url), exclusive_run(url):
        return _search(resolved, url, study_name, data=data, device=device, dev_name=dev_name, threads=threads,
                       sampler=sampler, trials=trials, timeout=timeout, workers=workers, seed=seed, started=started,
                       allow_space_change=allow_space_change, progress=progress, heartbeat=heartbeat, trainer=trainer)


def _search(
    resolved: ResolvedSpace,
    url: str,
    study_name: str,
    *,
    data: Any,
    device: str,
    dev_name: str,
    threads: int,
    sampler: str,
    trials: int | None,
    timeout: float | None,
    workers: int,
    seed: int,
    started: float,
    allow_space_change: bool,
    progress: bool,
    heartbeat: int | None,
    trainer: Callable[..., Any] | None,
) -> SearchSummary:
    space = resolved.space
    study = open_search_study(
        space,
        study_name,
        url,
        device_name=dev_name,
        protocol=resolved.protocol,
        targets=resolved.targets,
        allow_space_change=allow_space_change,
        heartbeat=heartbeat,
    )
    orphans = fail_orphans(study, url)
    run_id = new_run_id()
    deadline = None if timeout is None else started + max(0.0, timeout - spent_seconds(study, workers))
    base_cfg = dict(
        resolved=resolved,
        study_name=study_name,
        storage=url,
        sampler=sampler,
        seed=seed,
        total_trials=trials,
        deadline=deadline,
        device=device,
        workers=workers,
        threads=threads,
        heartbeat=heartbeat if is_database_server(url) else None,
        run_id=run_id,
    )
    set_torch_threads(threads)  # this process trains too: as the only worker, or for the noise runs
    bar = ProgressBar(study, trials, counted_trials(study), enabled=progress)
    interrupted = False
    with search_window(url, study_name):  # the workers' timings exclude each other's training
        try:
            if workers == 1:
                run_worker(WorkerConfig(**base_cfg), data=data, on_trial=bar.update, trainer=trainer)
            elif sqlite_path(url) is not None:
                # SQLite has one writer: this process serves the file, the workers write through it.
                with serve_storage(study_storage(study)) as proxy:
                    run_processes({**base_cfg, "proxy": proxy}, workers, bar, study)
            else:
                run_processes(base_cfg, workers, bar, study)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    if not interrupted:
        try:
            measure_noise(study, resolved, data, device=device, trainer=trainer, progress=progress,
                          workers=workers, threads=threads)
        except KeyboardInterrupt:
            interrupted = True  # every re-scored trial so far is stored; the next run goes on
    summary = summarise(study, url, ran=trials_of_run(study, run_id), seconds=time.time() - started)
    summary.interrupted, summary.orphans_failed = interrupted, orphans
    summary.noise = stored_noise(study) or None
    return summary


def worker_count(workers: int | str, trials: int | None) -> int:
    """The number of worker processes: `auto` is one per available core (never more than the
    trials asked for).

    Example:
        >>> worker_count(3, None), worker_count("auto", 1)
        (3, 1)
    """
    if workers == "auto":
        count = usable_cores()
        return max(1, min(count, trials)) if trials is not None else count
    try:
        count = int(workers)
    except (TypeError, ValueError):
        raise WorkbenchError(f"--workers must be a number or 'auto', got {workers!r}") from None
    if count < 1:
        raise WorkbenchError(f"--workers must be at least 1, got {workers}")
    return count


def new_run_id() -> str:
    """`host:pid:start:nonce` of this command, written on its trials (`record.RUN_ID`); the
    nonce keeps two runs of one process within one second apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}:{uuid.uuid4().hex[:8]}"


def trials_of_run(study: optuna.Study, run_id: str) -> int:
    """Counted trials this command ran (another command's trials on the same study excluded)."""
    return sum(counts_toward_total(t) and TrialRecord.of(t).run_id == run_id for t in study.get_trials(deepcopy=False))


def fail_orphans(study: optuna.Study, url: str) -> int:
    """Mark trials left RUNNING by dead workers FAIL (the workers then retry them,
    `search.retry`). On SQLite (this run holds the file) every RUNNING trial is a dead worker's;
    on a journal, a database server or a gRPC proxy only those of a process of this machine that
    no longer exists (or of a version that recorded no run id). A database server's heartbeats
    also fail those of other machines; a journal's and a proxy's cannot be told apart from a
    live one. Returns how many."""
    reason = "worker died (found running when a new run started)"
    if url.startswith("sqlite"):
        return fail_running(study, record.REASON, reason)
    now = time.time()
    dead = [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if _is_dead(TrialRecord.of(t).run_id, _age(t, now))
    ]
    return fail_running(study, record.REASON, reason, numbers=dead) if dead else 0


def _age(trial: Any, now: float) -> float:
    return now - trial.datetime_start.timestamp() if trial.datetime_start is not None else float("inf")


# A trial younger than this may not have written its run id yet (it does so as it starts).
_RUN_ID_GRACE_S = 60.0


def _is_dead(run_id: Any, age_s: float) -> bool:
    if not isinstance(run_id, str) or run_id.count(":") < 2:
        return age_s > _RUN_ID_GRACE_S
    host, pid = run_id.split(":")[:2]
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return int(pid) == os.getpid()  # our own pid: a trial of an earlier run that died in this process

"""Workers: the loop that asks the study for trials and runs them, in this process or in
several spawned ones, and what counts toward `--trials`.

* Totals: `trials` counts what the study already holds, so running the same command again
  continues where it stopped. The total is exact with several workers: each worker counts the
  study's trials and asks for a new one under the study lock (`workbench.storage.study_lock`).
* Seeds: every worker of every run draws a run index from the study (`claim_run_index`) and
  seeds its sampler with `seed + RUN_SEED_STRIDE * index`: the first run of a new study keeps
  the plain seed (the same seed gives the same trials), a resumed or concurrent run continues
  with a sequence of its own instead of replaying one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from workbench.data import load_dataset
from workbench.errors import WorkbenchError
from workbench.profiling.protocol import device_name
from workbench.record import StudyRecord, TrialRecord, write_run_index
from workbench.search.optuna_samplers import make_pruner, make_sampler
from workbench.search.retry import enqueue_retries, was_stopped_from_outside
from workbench.search.space_resolve import ResolvedSpace
from workbench.search.stop import stop_on_signals
from workbench.search.study import open_for_search
from workbench.search.threads import set_torch_threads
from workbench.search.trial import TrialContext, TrialFailed, run_trial
from workbench.storage import SERVER_GONE, Lock, describe_storage_error, normalise_url, server_gone, study_lock

# Stride between the sampler seeds of successive runs (a prime, far from the trial seeds' 1000s).
RUN_SEED_STRIDE = 10007


def counts_toward_total(trial: FrozenTrial) -> bool:
    """Finished or running trials count; a FAIL without our record (a killed worker's
    trial, failed by a heartbeat or at the next start), an interrupted one, a queued retry not
    yet run, or a candidate the zero-cost pre-screen left out (never trained) does not."""
    rec = TrialRecord.of(trial)
    if trial.state == TrialState.PRUNED and rec.stored_status == "screened":
        return False
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    if trial.state == TrialState.WAITING:
        return False  # a queued retry counts once a worker runs it
    return not was_stopped_from_outside(trial)


def counted_trials(study: optuna.Study, trials: Sequence[FrozenTrial] | None = None) -> int:
    """Trials of the study that count toward `--trials` (of `trials`, if the caller has just read them)."""
    return sum(counts_toward_total(t) for t in (study.get_trials(deepcopy=False) if trials is None else trials))


def spent_seconds(study: optuna.Study, workers: int = 1) -> float:
    """Search time already in the study (summed trial durations / workers), for `--timeout`."""
    total = sum(t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration is not None)
    return total / max(1, workers)


def claim_run_index(study: optuna.Study, new_lock: Callable[[], Lock]) -> int:
    """A number no other run or worker of this study has drawn (0 for the first run of a new
    study): its sampler is seeded from it, so a resumed or concurrent run never replays an
    earlier run's sequence. Kept as the study attribute `record.STUDY_RUNS`."""
    with new_lock():
        stored = StudyRecord.of(study).runs
        index = stored if stored is not None else (1 if study.get_trials(deepcopy=False) else 0)
        write_run_index(study, index + 1)
    return index


@dataclass
class WorkerConfig:
    """Everything a worker process needs (picklable)."""

    resolved: ResolvedSpace          # the space as the runner resolved it (base, recipe, protocol, seed)
    study_name: str
    storage: str
    sampler: str
    seed: int
    total_trials: int | None
    deadline: float | None           # time.time() after which no new trial starts
    device: str = "cpu"
    worker_index: int = 0
    workers: int = 1
    threads: int = 1                 # torch intra-op and inter-op threads of each worker
    heartbeat: int | None = None
    proxy: str | None = None         # grpc:// URL of the command's own storage server (SQLite, several workers)
    run_id: str = ""                 # names this command's trials (`record.RUN_ID`)


# A worker's exit code when its gRPC storage server stopped answering (EX_TEMPFAIL: a rerun resumes).
SERVER_GONE_EXIT = 75


def load_search_data(resolved: ResolvedSpace, device: str = "cpu") -> Any:
    """The dataset a resolved space scores on, shaped like its base architecture, on `device`."""
    space, base = resolved.space, resolved.base
    data = load_dataset(space.dataset, input_size=base.input_size, in_channels=base.in_channels, seed=space.seed,
                        val_fraction=space.val_fraction)
    return data.to(device) if hasattr(data, "to") else data


def run_worker(
    cfg: WorkerConfig,
    *,
    data: Any = None,
    on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    trainer: Callable[..., Any] | None = None,
) -> int:
    """Run trials on the study until the total, the deadline or an interrupt; returns the
    number of trials this worker ran."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    set_torch_threads(cfg.threads)
    space = cfg.resolved.space
    backend = open_for_search(cfg.proxy or cfg.storage, cfg.heartbeat)
    new_lock = study_lock(normalise_url(cfg.storage), backend, cfg.study_name)
    study = optuna.load_study(study_name=cfg.study_name, storage=backend, pruner=make_pruner(space))
    seed = cfg.seed + RUN_SEED_STRIDE * claim_run_index(study, new_lock)
    study.sampler = make_sampler(cfg.sampler, seed, n_trials=cfg.total_trials, parallel=cfg.workers > 1)
    data = data if data is not None else load_search_data(cfg.resolved, cfg.device)
    ctx = TrialContext(
        resolved=cfg.resolved,
        data=data,
        device=cfg.device,
        device_name=device_name(cfg.device),
        trainer=trainer,
        claim_lock=new_lock,
        run_id=cfg.run_id,
    )
    callbacks = [lambda s, t: on_trial(s, t)] if on_trial else []
    ran = 0
    while cfg.deadline is None or time.time() < cfg.deadline:
        lock = new_lock()
        with lock:
            # Killed or interrupted trials run again before new ones are sampled. Looked for before
            # every trial, not once at start: a trial failed by a heartbeat whose worker died before
            # Optuna's retry callback ran, or by another command's start, is retried all the same.
            trials = study.get_trials(deepcopy=False)  # one read for both (a queued retry does not count)
            enqueue_retries(study, trials)
            if cfg.total_trials is not None and counted_trials(study, trials) >= cfg.total_trials:
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
        with stop_on_signals(warn=False):
            run_worker(cfg)
    except KeyboardInterrupt:
        pass
    except Exception as error:  # noqa: BLE001 - one line per worker; the command reports the exit codes
        if server_gone(error):
            sys.exit(SERVER_GONE_EXIT)  # the command says it once, for every worker
        message = describe_storage_error(cfg.storage, error) or f"{type(error).__name__}: {error}"
        print(f"workbench search: worker {cfg.worker_index}: {message}", file=sys.stderr)
        sys.exit(2)


def run_processes(base_cfg: dict[str, Any], workers: int, bar: Any, study: optuna.Study) -> None:
    """Run `workers` worker processes (spawned, `base_cfg["threads"]` torch threads each) to the
    end, refreshing `bar` from the study every second."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_main, args=(WorkerConfig(**base_cfg, worker_index=i),), daemon=False)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            time.sleep(1.0)
            bar.refresh_from(study)
        bar.refresh_from(study)
    except KeyboardInterrupt:
        # A `kill -INT` or SIGTERM reaches this process only: pass the stop on, so every worker
        # marks its running trial interrupted and exits now instead of finishing it.
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            process.join(timeout=60)
        raise
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
    bad = [p.exitcode for p in processes if p.exitcode not in (0, None)]
    if bad and set(bad) == {SERVER_GONE_EXIT}:
        raise WorkbenchError(f"storage '{base_cfg['storage']}' {SERVER_GONE}")
    if bad:
        raise WorkbenchError(
            f"{len(bad)} of {workers} worker processes exited with errors (exit codes {bad}); "
            "the study keeps every finished trial"
        )

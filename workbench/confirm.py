"""Confirm a study's accuracies: re-train its front (and its top K) longer, with several seeds.

A proxy accuracy is a short, single-seed figure. `confirm_study` re-trains the exact
architecture of each chosen trial (its stored ArchConfig JSON) with the study's own space
recipe, only longer, once per seed, and stores each trial's confirmation as the study user
attribute `confirm:<trial number>` (Optuna refuses writes to finished trials):

    {"accuracy": mean, "sd": sample sd (None for one seed), "epochs": E,
     "samples": [each seed's accuracy], "seeds": [each seed]}

Seed i of trial n is `space.seed + n + 1000 * i`, so seed 0 is the trial's own initialisation
rule. The attribute is written after every seed: an interrupted run keeps every finished
seed and the same command resumes where it stopped. A run with other epochs starts a trial
over, and re-confirms every trial confirmed at other epochs too: confirmed accuracies are
comparable only at one recipe (picks refuse to mix them). Last, Kendall's tau between proxy
and confirmed accuracy (with a bootstrap interval) is stored as the study attribute
`fidelity_kendall_tau`: how far the study's proxy ranking can be trusted; a stored tau that
no longer matches the confirmations is cleared.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
import pandas as pd
from tqdm.auto import tqdm

from workbench import record, results
from workbench.config.arch import ArchConfig
from workbench.errors import WorkbenchError
from workbench.profiling.protocol import check_device, resolve_device
from workbench.record import StudyRecord, clear_fidelity_tau, write_confirmation, write_fidelity_tau
from workbench.search.scoring import train_candidate
from workbench.search.space import SearchSpace, parse_space, seed_rule
from workbench.search.space_resolve import proxy_recipe, resolve_space
from workbench.search.workers import load_search_data
from workbench.stats import kendall_tau_bootstrap
from workbench.storage import check_writable_storage, load_study, normalise_url
from workbench.training import ProxyRecipe, TrainingDiverged

DEFAULT_TOP = 3
DEFAULT_SEEDS = 3
# Default confirmation length: this many times the space's proxy epochs. For the digits space
# (3 proxy epochs) that is the 15 epochs of the fidelity benchmark, and it keeps the
# same "proxy : long run" ratio on spaces with other proxy lengths.
EPOCHS_FACTOR = 5
MIN_TAU_TRIALS = 3


@dataclass
class Confirmation:
    """One chosen trial and what the study now holds for it (None until a seed finished)."""

    number: int
    chosen: list[str]              # "front" and/or "top"
    proxy_accuracy: float
    accuracy: float | None = None
    sd: float | None = None
    epochs: float | None = None
    samples: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    trained: int = 0               # seeds trained by this run


@dataclass
class ConfirmSummary:
    """What a confirm run did and what the study holds afterwards."""

    study_name: str
    storage: str
    epochs: float
    seeds: int
    top: int
    device: str
    confirmations: list[Confirmation]
    tau: dict[str, Any] | None     # the stored `fidelity_kendall_tau`, None when not stored
    notes: list[str]
    interrupted: bool
    trained: int                   # (trial, seed) runs trained by this run
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (the tau under its study attribute's name)."""
        data = asdict(self)
        data[record.STUDY_FIDELITY_TAU] = data.pop("tau")
        return data


Trainer = Callable[..., Any]


def default_epochs(space: SearchSpace) -> float:
    """`EPOCHS_FACTOR` times the space's proxy epochs (15 for the digits space).

    Example:
        >>> from workbench.search import load_space
        >>> default_epochs(load_space("digits"))
        15.0
    """
    return float(EPOCHS_FACTOR * proxy_recipe(space).epochs)


def study_space(study: optuna.Study, data: str | None = None) -> SearchSpace:
    """The SearchSpace a study was searched with (from its stored attributes), reading
    `data` instead of its dataset when given.

    Raises:
        WorkbenchError: the study holds no space (it was not made by `workbench search`).

    Example:
        >>> from workbench.record import write_study_record
        >>> study = optuna.create_study()
        >>> write_study_record(study, {"space": {"base": "ghostnet_cifar_050", "dataset": "cifar10:/data"}})
        >>> study_space(study).dataset, study_space(study, data="digits").dataset
        ('cifar10:/data', 'digits')
    """
    study_record = StudyRecord.of(study)
    stored = study_record.space
    if stored is None:
        raise WorkbenchError(f"study '{study.study_name}' holds no search space (attribute '{record.STUDY_SPACE}'); "
                             "only studies made by `workbench search` can be confirmed")
    source = study_record.space_file or "<stored space>"
    space = parse_space(stored, source=source, base_dir=Path(source).parent if source != "<stored space>" else None)
    return space.with_dataset(data) if data else space


def select_trials(study: optuna.Study, top: int = DEFAULT_TOP) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """The trials to confirm: the study's Pareto front over its scored trials, plus the `top`
    trials by proxy accuracy. Returns the scored pool and {trial number: why chosen}.

    Raises:
        WorkbenchError: the study has no scored feasible trial.

    Example:
        Three scored architectures, accuracy up and MACs down: #0 (0.90, 2M) and #1 (0.95, 4M)
        are the front; #2 (0.93, 5M) is dominated by #1 but is the second best accuracy.

        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> study.set_metric_names(["accuracy", "macs"])
        >>> for n, (acc, macs) in enumerate([(0.90, 2e6), (0.95, 4e6), (0.93, 5e6)]):
        ...     study.add_trial(optuna.trial.create_trial(values=[acc, macs], user_attrs={
        ...         "status": "complete", "accuracy": acc, "macs": macs, "arch_hash": f"a{n}"}))
        >>> pool, chosen = select_trials(study, top=2)
        >>> chosen
        {0: ['front'], 1: ['front', 'top'], 2: ['top']}
    """
    frame = results.trials_frame(study)
    pool = results.candidates(frame, [record.OBJECTIVES["accuracy"]])  # scored, feasible, one per architecture
    if pool.empty:
        statuses = frame["status"].value_counts().to_dict() if not frame.empty else {}
        listing = ", ".join(f"{name} {count}" for name, count in sorted(statuses.items())) or "no trials"
        raise WorkbenchError(f"study '{study.study_name}' has no scored feasible trial to confirm ({listing})")
    chosen: dict[int, list[str]] = {}
    front = results.pareto_front(pool, results.study_objectives(study))
    for number in front["number"]:
        chosen.setdefault(int(number), []).append("front")
    best = pool.sort_values([record.ACCURACY, "number"], ascending=[False, True]).head(top)
    for number in best["number"]:
        chosen.setdefault(int(number), []).append("top")
    return pool, dict(sorted(chosen.items()))


def confirm_study(study_name: str, storage: str | None = None, *, top: int = DEFAULT_TOP, seeds: int = DEFAULT_SEEDS,
                  epochs: float | None = None, device: str = "auto", data: str | None = None, progress: bool = True,
                  trainer: Trainer | None = None) -> ConfirmSummary:
    """Re-train the study's front plus its `top` trials by proxy accuracy for `epochs`
    (default `EPOCHS_FACTOR` x the space's proxy epochs) with `seeds` seeds each, store every
    finished seed as it lands, then store Kendall's tau of proxy against confirmed accuracy.

    Seeds already stored at the same epochs are not trained again; a stored confirmation at
    other epochs is replaced (a note says so). Ctrl-C stops the run, keeps every finished seed
    and returns with `interrupted` set (no tau then). `trainer` replaces `train_proxy`
    (same signature; tests and benchmarks).

    Raises:
        WorkbenchError: bad counts, a storage that cannot be written, a missing storage or study,
            no scored trial, a study without a stored space, an unusable device or dataset.

    `tests/test_confirm.py` runs it on real searches.
    """
    started = time.time()
    check_counts(top=top, seeds=seeds, epochs=epochs)
    study = load_study(study_name, storage)
    check_writable_storage(normalise_url(storage))  # every seed is stored as it lands: check before training
    pool, chosen = select_trials(study, top)
    space = study_space(study, data)
    epochs = default_epochs(space) if epochs is None else float(epochs)
    chosen = _with_other_recipes(study, chosen, set(int(n) for n in pool["number"]), epochs)
    longer = long_recipe(space, epochs)
    device = resolve_device(device)
    check_device(device)
    dataset = load_search_data(resolve_space(space, device=device), device)
    proxy = {int(n): float(a) for n, a in zip(pool["number"], pool[record.ACCURACY])}
    archs = {int(n): text for n, text in zip(pool["number"], pool[record.ARCH_JSON])}
    plan, notes = _plan(study, space, chosen, epochs, seeds)
    trained = {number: 0 for number in chosen}
    interrupted = False
    bar = _bar(study_name, plan, enabled=progress)
    try:
        for number, done, todo in plan:
            arch = ArchConfig.model_validate(json.loads(archs[number]))
            for seed in todo:
                bar.set_postfix_str(f"trial {number} seed {seed}", refresh=True)
                accuracy = _train_seed(longer, arch, dataset, seed, device, trainer, notes, number)
                bar.update(1)
                if accuracy is not None:
                    done[seed] = accuracy
                    store_confirmation(study, number, epochs, done)  # at once: Ctrl-C keeps it
                    trained[number] += 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    tau = None
    if not interrupted:
        tau = store_fidelity_tau(study, proxy, epochs, seeds, notes)
    if tau is None and sum(trained.values()):  # the confirmations changed under the stored tau
        _clear_stale_tau(study, notes)
    kept = [_confirmation(study, number, why, proxy[number], trained[number]) for number, why in chosen.items()]
    return ConfirmSummary(
        study_name=study_name, storage=normalise_url(storage), epochs=epochs, seeds=seeds, top=top, device=device,
        confirmations=kept, tau=tau, notes=notes, interrupted=interrupted, trained=sum(trained.values()),
        seconds=time.time() - started,
    )


def check_counts(*, top: int, seeds: int, epochs: float | None) -> None:
    """Refuse counts that cannot make a confirmation (before anything is opened).

    Example:
        >>> check_counts(top=3, seeds=0, epochs=None)
        Traceback (most recent call last):
        ...
        workbench.errors.WorkbenchError: --seeds must be at least 1, got 0
    """
    if seeds < 1:
        raise WorkbenchError(f"--seeds must be at least 1, got {seeds}")
    if top < 0:
        raise WorkbenchError(f"--top must be 0 or more, got {top}")
    if epochs is not None and not (math.isfinite(epochs) and epochs > 0):
        raise WorkbenchError(f"--epochs must be more than 0, got {epochs:g}")


def long_recipe(space: SearchSpace, epochs: float) -> ProxyRecipe:
    """The space's proxy recipe trained for `epochs` (the recipe's own limits apply).

    Raises:
        WorkbenchError: `epochs` outside what a recipe allows.

    Example:
        >>> from workbench.search import load_space
        >>> long_recipe(load_space("digits"), 15).epochs
        15.0
    """
    # A ladder's top rung would override the epochs; a confirmation is one plain long run.
    longer = space.replace(recipe={**space.recipe, "epochs": epochs}, fidelity=None, prescreen=None)
    try:
        return proxy_recipe(longer)
    except WorkbenchError as error:
        raise WorkbenchError(f"--epochs {epochs:g}: {error}") from None


def _plan(study: optuna.Study, space: SearchSpace, chosen: dict[int, list[str]], epochs: float,
          seeds: int) -> tuple[list[tuple[int, dict[int, float], list[int]]], list[str]]:
    """Per chosen trial: the seeds already stored at `epochs` ({seed: accuracy}) and the
    seeds still to train; notes for confirmations that start over at other epochs."""
    study_record = StudyRecord.of(study)
    plan, notes = [], []
    for number in chosen:
        stored = study_record.confirmation(number)
        done: dict[int, float] = {}
        if stored.get("samples"):
            if _same(stored.get("epochs"), epochs):
                done = {int(s): float(a) for s, a in zip(stored.get("seeds") or [], stored["samples"])}
            else:
                notes.append(f"trial {number}: its confirmation at {stored.get('epochs'):g} epochs "
                             f"({len(stored['samples'])} seed runs) is replaced by runs at {epochs:g} epochs")
        todo = [seed for seed in seed_rule(space.seed, number, seeds) if seed not in done]
        plan.append((number, done, todo))
    return plan, notes


def _with_other_recipes(study: optuna.Study, chosen: dict[int, list[str]], pool: set[int],
                        epochs: float) -> dict[int, list[str]]:
    """`chosen` plus every scored trial confirmed at other epochs (why: "recipe"): confirmed
    accuracies are comparable only at one recipe, so a run at new epochs brings them all to it."""
    for number, value in StudyRecord.of(study).confirmations.items():
        if number in pool and not _same(value.get("epochs"), epochs):
            chosen.setdefault(number, []).append("recipe")
    return dict(sorted(chosen.items()))


def _clear_stale_tau(study: optuna.Study, notes: list[str]) -> None:
    """Clear a stored tau this run's confirmations no longer match (it was measured on others)."""
    stored = StudyRecord.of(study).fidelity
    if stored is not None:
        clear_fidelity_tau(study)
        notes.append(f"the stored {record.STUDY_FIDELITY_TAU} (at {stored.get('epochs', float('nan')):g} epochs) "
                     "no longer describes the confirmations and is cleared")


def _same(stored: Any, epochs: float) -> bool:
    return isinstance(stored, (int, float)) and math.isclose(float(stored), epochs, rel_tol=1e-9, abs_tol=1e-12)


def _bar(study_name: str, plan: list[tuple[int, dict[int, float], list[int]]], enabled: bool) -> Any:
    total = sum(len(done) + len(todo) for _, done, todo in plan)
    initial = sum(len(done) for _, done, _ in plan)
    return tqdm(total=total, initial=initial, unit="run", desc=f"confirm {study_name}", dynamic_ncols=True,
                disable=not enabled)


def _train_seed(recipe: ProxyRecipe, arch: ArchConfig, data: Any, seed: int, device: str, trainer: Trainer | None,
                notes: list[str], number: int) -> float | None:
    """One confirmation run, scored exactly as the search scores a trial seed (only longer);
    None (and a note) when the run diverged."""
    try:
        result = train_candidate(recipe, arch, data, seed, device=device, trainer=trainer)
    except TrainingDiverged as error:
        notes.append(f"trial {number} seed {seed}: training diverged ({error}); nothing stored for that seed")
        return None
    return float(result.val_accuracy)


def store_confirmation(study: optuna.Study, number: int, epochs: float, runs: dict[int, float]) -> dict[str, Any]:
    """Write trial `number`'s confirmation from {seed: accuracy} as the study attribute
    `confirm:<number>` and return it.

    Example:
        The sd of 0.96 and 0.97 is 0.01 / sqrt(2):

        >>> round(store_confirmation(optuna.create_study(), 7, 15.0, {7: 0.96, 1007: 0.97})["sd"], 6)
        0.007071
    """
    seeds = sorted(runs)
    samples = [float(runs[seed]) for seed in seeds]
    value = {
        "accuracy": statistics.fmean(samples),
        "sd": statistics.stdev(samples) if len(samples) > 1 else None,
        "epochs": float(epochs),
        "samples": samples,
        "seeds": seeds,
    }
    write_confirmation(study, number, value)
    return value


def store_fidelity_tau(study: optuna.Study, proxy: dict[int, float], epochs: float, seeds: int,
                       notes: list[str] | None = None) -> dict[str, Any] | None:
    """Kendall's tau (bootstrap 95% interval) of proxy accuracy against confirmed accuracy
    over every scored trial confirmed at `epochs` with at least `seeds` seeds; stored as the
    study attribute `fidelity_kendall_tau` and returned. `seeds` in the stored value is the
    fewest seeds behind any of those confirmations. Fewer than 3 trials: nothing is stored,
    a note says so, and None is returned.

    Example:
        Three trials whose confirmed accuracies keep the proxy's order: tau is 1.

        >>> study = optuna.create_study()
        >>> for n, runs in enumerate([{0: 0.90, 1: 0.92}, {0: 0.94, 1: 0.94}, {0: 0.97, 1: 0.95}]):
        ...     _ = store_confirmation(study, n, 15.0, runs)
        >>> tau = store_fidelity_tau(study, {0: 0.91, 1: 0.93, 2: 0.95}, 15.0, 2)
        >>> tau["tau"], tau["n"], tau["seeds"]
        (1.0, 3, 2)
    """
    used = {number: value for number, value in StudyRecord.of(study).confirmations.items()
            if number in proxy and _same(value.get("epochs"), epochs) and len(value.get("samples") or []) >= seeds}
    if len(used) < MIN_TAU_TRIALS:
        if notes is not None:
            notes.append(f"Kendall tau needs at least {MIN_TAU_TRIALS} confirmed trials at {epochs:g} epochs, "
                         f"the study has {len(used)}; no {record.STUDY_FIDELITY_TAU} stored")
        return None
    numbers = sorted(used)
    tau, low, high = kendall_tau_bootstrap([proxy[n] for n in numbers], [used[n]["accuracy"] for n in numbers])
    value = {"tau": _finite(tau), "low": _finite(low), "high": _finite(high), "n": len(numbers),
             "epochs": float(epochs), "seeds": min(len(used[n]["samples"]) for n in numbers)}
    write_fidelity_tau(study, value)
    return value


def _finite(value: float) -> float | None:
    """NaN (all figures tied) is stored as None: not every storage accepts NaN in JSON."""
    return float(value) if math.isfinite(value) else None


def _confirmation(study: optuna.Study, number: int, why: list[str], proxy: float, trained: int) -> Confirmation:
    stored = StudyRecord.of(study).confirmation(number)
    return Confirmation(number=number, chosen=why, proxy_accuracy=proxy, accuracy=stored.get("accuracy"),
                        sd=stored.get("sd"), epochs=stored.get("epochs"), samples=list(stored.get("samples") or []),
                        seeds=list(stored.get("seeds") or []), trained=trained)

"""Train the supernet of a space into a file, resuming an unfinished one (`workbench supernet train`).

The space decides the subnets (its knobs through `arch_sampling`), the data and split (as its
search scores on them: the supernet never sees the validation split) and the optimiser settings
(its proxy `recipe`, with `epochs` replaced). The file is written after every epoch, so Ctrl-C
loses at most the epoch under way, and the same command continues it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from workbench.config.io import read_mapping, to_plain
from workbench.errors import WorkbenchError
from workbench.outputs import check_output, claim
from workbench.search.arch_sampling import arch_from_params
from workbench.search.space import SearchSpace, parse_space
from workbench.search.space_check import check_space
from workbench.search.space_resolve import resolve_space
from workbench.search.supernet_cover import (
    check_supernet_space,
    corner_archs,
    corner_params,
    cover_hash,
    random_params,
)

RULE = "sandwich"


def load_space_to_train(name_or_path: str) -> SearchSpace:
    """A space read for supernet training: checked like `load_space` but with a `supernet`
    accuracy source set aside (its file is what this training writes).

    Raises:
        WorkbenchError: as `load_space`.
    """
    from workbench.search.loading import resolve_space_path

    path = resolve_space_path(name_or_path)
    space = parse_space(read_mapping(path), source=str(path), base_dir=path.parent)
    space = space.replace(name=space.name or path.stem)
    checked = space.replace(accuracy=space.accuracy.model_copy(update={"source": "proxy", "path": None}))
    check_space(checked)
    return space


def train_space_supernet(space: SearchSpace, out: str | Path, *, epochs: int, device: str = "cpu",
                         randoms: int = 2, force: bool = False, progress: bool = True,
                         on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train (or resume) the supernet of `space` for `epochs` epochs into `out`; returns the
    file's payload without its tensors.

    Raises:
        WorkbenchError: a space a supernet cannot cover, an `out` that is not this workbench's or
            is a supernet of another space or recipe, a finished file asked for more epochs.
    """
    from workbench.search.workers import load_search_data
    from workbench.supernet import GhostSupernet, envelope_of
    from workbench.supernet.files import read_header, save_supernet, state_of
    from workbench.supernet.train import SandwichPlan, train_supernet
    from workbench.training import seed_everything

    out = Path(out)
    resolved = resolve_space(space, device=device)
    data = load_search_data(resolved, device)
    base = resolved.fitted_to(data).base
    check_supernet_space(space, base)
    recipe = resolved.recipe.model_copy(update={"epochs": float(epochs)})
    plan_data = {"rule": RULE, "randoms": randoms, "epochs": epochs, "proxy_recipe": to_plain(recipe)}
    check_output(out, flag="--out", force=force, ours=_is_supernet)
    resume = None
    if out.exists() and not force:
        resume = read_header(out)
        _check_resumable(resume, out, cover_hash(space), plan_data)
    seed_everything(recipe.seed)  # the initialisation, so a run is the same run wherever it starts
    net = GhostSupernet(envelope_of(corner_archs(space, base)))
    if resume is not None:
        net.load_state_dict(resume["state_dict"])
    plan = SandwichPlan(
        largest=arch_from_params(space, corner_params(space, base, largest=True), base),
        smallest=arch_from_params(space, corner_params(space, base, largest=False), base),
        sample=lambda rng: arch_from_params(space, random_params(space, base, rng), base), randoms=randoms)
    header = {"cover_hash": cover_hash(space), "space_hash": space.space_hash(), "space_name": space.name,
              "space": to_plain(space), "recipe": plan_data, "envelope": net.envelope.to_dict(), "epochs": epochs}

    def write(epoch: int, state: dict[str, Any]) -> None:
        payload = {**header, "state_dict": state_of(net), "complete": epoch >= epochs, **state}
        save_supernet(payload, out)
        claim(out)
        if on_epoch is not None:
            on_epoch(state["history"][-1])

    if resume is not None and resume["complete"]:
        return {k: v for k, v in resume.items() if k not in ("state_dict", "optimizer", "scheduler")}
    history = train_supernet(net, data, recipe, plan, epochs, device=device, resume=resume, on_epoch=write,
                             progress=progress)
    return {**header, "history": history, "complete": True, "epoch": epochs}


def _is_supernet(path: Path) -> bool:
    from workbench.supernet.files import read_header

    try:
        read_header(path)
    except WorkbenchError:
        return False
    return True


def _check_resumable(payload: dict[str, Any], out: Path, hash_: str, plan: dict[str, Any]) -> None:
    if payload["cover_hash"] != hash_:
        raise WorkbenchError(f"--out {out}: a supernet of another space ('{payload.get('space_name')}'); choose "
                             "another --out, or --force to replace it")
    if payload["recipe"] != plan:
        differs = sorted(k for k in set(plan) | set(payload["recipe"]) if plan.get(k) != payload["recipe"].get(k))
        raise WorkbenchError(f"--out {out}: a supernet trained with another recipe ({', '.join(differs)} differ); "
                             "resume with the same settings, or --force to start over")


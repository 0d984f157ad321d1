"""Finding and reading search-space files: by name in ./search_spaces or the repository's
`search_spaces/`, or by path; validated, checked against the base architecture and (unless
asked not to) against the budgets, before any trial runs.
"""

from __future__ import annotations

from pathlib import Path

from workbench.config.io import read_mapping
from workbench.errors import WorkbenchError
from workbench.search.space import SearchSpace, parse_space
from workbench.search.space_check import check_cost_budgets, check_space

_REPO_SPACES = Path(__file__).resolve().parent.parent.parent / "search_spaces"


def space_names() -> list[str]:
    """Names of the spaces in ./search_spaces and in the repository's search_spaces."""
    names = set()
    for folder in (Path("search_spaces"), _REPO_SPACES):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def resolve_space_path(name_or_path: str) -> Path:
    """`NAME` -> `search_spaces/NAME.yaml` in the cwd, else the repo's `search_spaces`;
    anything that exists as a file is taken as a path."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml", ".json") or "/" in name_or_path:
        raise WorkbenchError(f"space file {name_or_path} not found")
    for folder in (Path("search_spaces"), _REPO_SPACES):
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise WorkbenchError(
        f"unknown space '{name_or_path}' (allowed: {', '.join(space_names()) or 'none found'}, "
        "or a path to a YAML file)"
    )


def load_space(name_or_path: str, *, data: str | None = None, check_budgets: bool = True) -> SearchSpace:
    """Read, validate and check a space file (by name or path); `data` replaces the dataset.

    The budgets are checked against the cheapest corner of the space (params and MACs
    counted; latency is checked by the runner, which measures on the search device).

    Example:
        >>> load_space("ghost_vgg16_cifar").base
        'ghost_vgg16_cifar'
    """
    path = resolve_space_path(name_or_path)
    raw = read_mapping(path)
    space = parse_space(raw, source=str(path), base_dir=path.parent)
    if space.name is None:
        space = space.replace(name=path.stem)
    if data:
        space = space.with_dataset(data)
    check_space(space)
    if check_budgets:
        check_cost_budgets(space)
    return space

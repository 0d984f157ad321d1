"""Load and dump config models as YAML or JSON with errors a user can act on.

Every validation failure becomes one `WorkbenchError` line naming the file, the field path
(``stages.2.blocks.0.kernel``) and the allowed values; an unknown key lists the known ones.
"""

from __future__ import annotations

import json
import os
import reprlib
import tempfile
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.config.arch import ArchConfig

M = TypeVar("M", bound=BaseModel)
# YAML aliases may repeat a value, not multiply it: past this many values once expanded, a
# file is refused (a "billion laughs" file expands a few lines into gigabytes).
MAX_EXPANDED_VALUES = 100_000
# How an offending value is shown in an error: a few items, a few levels, short strings.
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxlist, _SHOWN.maxdict, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlong = 3, 6, 6, 60, 60, 40


def _field_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `Optional[list[StageConfig]]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _field_model(arg)
        if found is not None:
            return found
    return None


def _model_at(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow a pydantic error location through nested models (list indices are skipped)."""
    current: type[BaseModel] | None = model_cls
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _field_model(field.annotation)
    return current


def format_validation_error(error: ValidationError, model_cls: type[BaseModel], source: str) -> str:
    """Turn the first pydantic error into `source: field.path: problem (allowed: ...)`."""
    first = error.errors()[0]
    loc = tuple(first.get("loc", ()))
    path = ".".join(str(p)[:60] for p in loc) or "(top level)"
    if first.get("type") == "extra_forbidden":
        parent = _model_at(model_cls, loc[:-1])
        known = ", ".join(sorted(parent.model_fields)) if parent else "?"
        message = f"unknown key '{str(loc[-1])[:60]}' (allowed keys: {known})"
    else:
        message = first.get("msg", "invalid value")
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if "input" in first and first.get("type") != "missing":
            message += f" (got {_SHOWN.repr(first['input'])})"
    more = len(error.errors()) - 1
    suffix = f" [and {more} more problem{'s' if more > 1 else ''}]" if more else ""
    return f"{source}: {path}: {message}{suffix}"


def parse_model(model_cls: type[M], data: Any, source: str = "config") -> M:
    """Validate plain data into `model_cls`, raising `WorkbenchError` with the field path."""
    if not isinstance(data, dict):
        raise WorkbenchError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model_cls.model_validate(data)
    except ValidationError as error:
        raise WorkbenchError(format_validation_error(error, model_cls, source)) from error


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping (PyYAML would keep the
    last silently: two latency targets of the same name would become one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice in one mapping (line {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def compose_document(self) -> yaml.Node:
        """The document's node graph, refused before anything is built from it when its aliases
        would expand it past `MAX_EXPANDED_VALUES` values or make it refer to itself."""
        node = super().compose_document()
        distinct: dict[int, int] = {}
        expanded = _expanded_size(node, distinct, set())
        if expanded > MAX_EXPANDED_VALUES and expanded > len(distinct):
            raise yaml.constructor.ConstructorError(
                None, None, f"its aliases (*name) expand to more than {MAX_EXPANDED_VALUES:,} values "
                "(a YAML alias bomb?); write the values out")
        return node


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values `node` stands for once every alias is expanded (counted once per node)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise yaml.constructor.ConstructorError(None, None, "an alias refers to the value that holds it",
                                                node.start_mark)
    open_nodes.add(key)
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    # Recursion is safe: composing the document took several frames a level, this takes one.
    sizes[key] = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in children)
    open_nodes.discard(key)
    return sizes[key]


def yaml_value(text: str, source: str) -> Any:
    """One YAML value typed on a command line (`--set ratio=3`), read as files are: safe tags only,
    no repeated keys, aliases bounded.

    Example:
        >>> yaml_value("[1, 3]", "--set dw_size"), yaml_value("0.5", "--set width")
        ([1, 3], 0.5)

    Raises:
        WorkbenchError: `source: not valid YAML: ...` in one line.
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:
        raise WorkbenchError(f"{source}: nested too deeply to read") from None
    except yaml.YAMLError as error:
        raise WorkbenchError(f"{source}: not valid YAML: {' '.join(str(error).split())[:300]}") from None


def read_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON file (chosen by suffix; YAML otherwise) into a dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise WorkbenchError(f"{path}: cannot read file ({error})") from error
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:
        raise WorkbenchError(f"{path}: nested too deeply to read") from None
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        detail = str(error).replace("\n", " ")[:300]
        raise WorkbenchError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                             f"{detail}") from error
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_model(model_cls: type[M], path: str | Path, key: str | None = None) -> M:
    """Load `model_cls` from a YAML/JSON file; with `key`, from that top-level section."""
    data = read_mapping(path)
    source = str(path)
    if key is not None and key in data:
        data, source = data[key], f"{path}: {key}"
    return parse_model(model_cls, data, source)


def load_arch(path: str | Path) -> "ArchConfig":
    """Load an `ArchConfig` from a file holding either the architecture itself or an
    exported config with an `arch:` section."""
    from workbench.config.arch import ArchConfig

    return load_model(ArchConfig, path, key="arch")


def to_plain(model: BaseModel) -> dict[str, Any]:
    """The model as JSON-compatible data (what is written to files and trial records)."""
    return model.model_dump(mode="json")


def dump_model(model: BaseModel, path: str | Path | None = None, fmt: str | None = None) -> str:
    """Serialise as YAML (default) or JSON; with `path`, also write it atomically.

    The format follows `fmt`, else the path's suffix (`.json` means JSON).
    """
    if fmt is None:
        fmt = "json" if path is not None and str(path).lower().endswith(".json") else "yaml"
    data = to_plain(model)
    text = json.dumps(data, indent=2) + "\n" if fmt == "json" else yaml.safe_dump(data, sort_keys=False)
    if path is not None:
        write_text_atomic(path, text)
    return text


def default_file_mode() -> int:
    """The mode `open()` would give a new file under the current umask (0o644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a file so a reader never sees it half-written: temp file in the folder, then rename.

    Raises:
        WorkbenchError: the folder cannot take the file (full, read-only); `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, default_file_mode())  # mkstemp makes owner-only files; give the usual mode
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        raise WorkbenchError(f"{path}: cannot be written ({error.strerror or error}); nothing was replaced") \
            from error
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

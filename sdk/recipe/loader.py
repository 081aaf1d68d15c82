"""load: YAML text -> plain data + the location of every node, then overrides and `${...}` interpolation.

Only a SafeLoader subclass ever parses (tags like `!!python/object` are refused, never constructed).
The composed node graph is walked by hand so that every value keeps its `line:col`, duplicate keys
are caught, and alias bombs or recursive aliases are refused after a bounded amount of work.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas.secrets import is_secret_name, secret_values, secrets_in
from sdk.args import as_strings
from sdk.errors import Problem, RecipeError, did_you_mean

MAX_NODES = 20_000
"""A recipe is a few hundred nodes; past this the document is an alias bomb, not a recipe."""
MAX_DEPTH = 64

_ENV_REF = re.compile(r"\$\{\s*oc\.env\s*:\s*([A-Za-z_][A-Za-z0-9_]*)")
SECRET_HINT = "stages read credentials from the environment themselves; remove it from the recipe"

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Location:
    file: str
    line: int | None = None
    col: int | None = None


@dataclass
class Document:
    """A loaded recipe: plain data, where each path came from, and the folder relative paths start at."""

    data: dict[str, Any]
    file: str
    base_dir: Path
    keys: dict[Path_, Location] = field(default_factory=dict)
    """Location of the key that introduces each path (for unknown-field errors)."""
    values: dict[Path_, Location] = field(default_factory=dict)
    """Location of the value at each path (for bad-value errors)."""
    overrides: tuple[str, ...] = ()
    """The `key=value` overrides applied to the file (a cloud runner repeats them on its nodes)."""

    def locate(self, path: Path_, *, key: bool = False) -> Location:
        """The closest known location of `path` (walking up to its parents)."""
        table = self.keys if key else self.values
        for cut in range(len(path), -1, -1):
            if path[:cut] in table:
                return table[path[:cut]]
            if path[:cut] in self.values:
                return self.values[path[:cut]]
        return Location(self.file, 1, 1)

    def problem(self, path: Path_, message: str, *, key: bool = False, hint: str | None = None) -> Problem:
        loc = self.locate(path, key=key)
        return Problem(message, loc.file, loc.line, loc.col, dotted(path), hint)


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


class _SafeLoader(yaml.SafeLoader):
    """The project's only YAML loader: PyYAML's safe constructors, nothing else.

    One change: `1e-5` is a float (YAML 1.2), not the string PyYAML's YAML 1.1 rules make of it.
    """


_SafeLoader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _mark(file: str, mark: yaml.Mark | None) -> Location:
    return Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)


class _Walker:
    def __init__(self, loader: _SafeLoader, doc: Document):
        self.loader, self.doc, self.count, self.active = loader, doc, 0, set[int]()

    def value(self, node: yaml.Node, path: Path_) -> Any:
        self.count += 1
        where = _mark(self.doc.file, node.start_mark)
        if self.count > MAX_NODES:
            raise RecipeError(Problem(f"document expands to more than {MAX_NODES} nodes; refusing it "
                                      "(an alias bomb?)", where.file, where.line, where.col, dotted(path)))
        if len(path) > MAX_DEPTH or id(node) in self.active:
            raise RecipeError(Problem("recursive or too deeply nested alias", where.file, where.line,
                                      where.col, dotted(path)))
        self.doc.values.setdefault(path, where)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                self.tag_is(node, "tag:yaml.org,2002:seq", path)
                return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
            self.tag_is(node, "tag:yaml.org,2002:map", path)
            return self.mapping(node, path)
        finally:
            self.active.discard(id(node))

    def tag_is(self, node: yaml.Node, tag: str, path: Path_) -> None:
        if node.tag != tag:
            where = _mark(self.doc.file, node.start_mark)
            raise RecipeError(Problem(f"YAML tag {node.tag!r} is not allowed in a recipe", where.file,
                                      where.line, where.col, dotted(path), "remove the tag"))

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        if node.tag == "tag:yaml.org,2002:merge":  # a bare `<<` outside a merge position
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as err:
            where = _mark(self.doc.file, node.start_mark)
            raise RecipeError(Problem(f"YAML tag {node.tag!r} is not allowed in a recipe", where.file,
                                      where.line, where.col, dotted(path), "remove the tag")) from err

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        self.loader.flatten_mapping(node)  # resolves `<<:` merge keys the way SafeLoader does: merged pairs first
        merged = len(node.value) - own
        out: dict[Any, Any] = {}
        written: set[Any] = set()  # keys written in this mapping itself (merged ones may be overridden)
        for index, (key_node, value_node) in enumerate(node.value):
            key_loc = _mark(self.doc.file, key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                raise RecipeError(Problem("mapping keys must be plain scalars", key_loc.file, key_loc.line,
                                          key_loc.col, dotted(path)))
            key = self.scalar(key_node, path)
            if index >= merged and key in written:
                first = self.doc.keys[(*path, key)]
                raise RecipeError(Problem(f"duplicate key {key!r} (first defined at line {first.line})",
                                          key_loc.file, key_loc.line, key_loc.col, dotted((*path, key)),
                                          "keep one of them"))
            if index >= merged:
                written.add(key)
            if key in out:  # a merged value overridden here: forget where the merged one was
                prefix = (*path, key)
                for stale in [p for p in self.doc.values if p[: len(prefix)] == prefix]:
                    del self.doc.values[stale]
            self.doc.keys[(*path, key)] = key_loc
            out[key] = self.value(value_node, (*path, key))
        return out


def parse(text: str, file: str = "<recipe>", base_dir: Path | None = None) -> Document:
    """Parse YAML text into a Document; any failure is a located RecipeError."""
    doc = Document({}, file, base_dir or Path.cwd())
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(Problem("the recipe is empty", file, 1, 1,
                                      hint="start with `recipe: pipeline` and a `name:`"))
        if not isinstance(node, yaml.MappingNode):
            where = _mark(file, node.start_mark)
            raise RecipeError(Problem("a recipe must be a mapping of keys to values", where.file, where.line,
                                      where.col, hint="start with `recipe: pipeline`"))
        doc.data = _Walker(loader, doc).value(node, ())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise RecipeError(Problem(f"invalid YAML: {err.problem or err.context}", *_pos(file, mark))) from err
    except yaml.YAMLError as err:  # reader errors: control characters, bad encodings
        raise RecipeError(Problem(f"invalid YAML: {err}", file)) from err
    finally:
        loader.dispose()
    return doc


def _pos(file: str, mark: yaml.Mark | None) -> tuple[str, int | None, int | None]:
    loc = _mark(file, mark)
    return loc.file, loc.line, loc.col


def read(path: str | Path) -> Document:
    """Read and parse a recipe file (text only; a binary or missing file is a RecipeError)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise RecipeError(Problem("no such recipe file", str(path), hint="check the path")) from None
    except IsADirectoryError:
        raise RecipeError(Problem("is a folder, not a recipe file", str(path))) from None
    if b"\x00" in raw[:8192]:
        raise RecipeError(Problem("not a text file (binary content)", str(path), 1, 1))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise RecipeError(Problem(f"not UTF-8 text (byte {err.start})", str(path), 1, 1)) from None
    return parse(text, str(path), p.resolve().parent)


def apply_overrides(doc: Document, overrides: list[str] | tuple[str, ...]) -> None:
    """Apply `a.b.0.c=value` (YAML-typed value) and `~a.b` (delete) overrides, in order.

    A list segment may be an index or, for lists of stages, a stage id: `stages.sft.lr=1e-6`.
    """
    for text in as_strings(overrides, "overrides"):
        where = Location(f"override {text!r}")
        delete = text.startswith("~")
        key, sep, raw = text[1:].partition("=") if delete else text.partition("=")
        if (not sep and not delete) or not key:
            raise RecipeError(Problem("overrides look like key.path=value or ~key.path", where.file))
        path = _override_path(doc.data, key.split("."), where)
        parent = _walk(doc.data, path[:-1], where, create=not delete)
        last = path[-1]
        if delete:
            try:
                del parent[last]
            except (KeyError, IndexError, TypeError):
                raise RecipeError(Problem("nothing to delete there", where.file, path=key)) from None
            continue
        value = parse(f"v: {raw}", where.file).data["v"] if raw.strip() else ""
        if isinstance(parent, list) and isinstance(last, int) and last == len(parent):
            parent.append(value)
        else:
            try:
                parent[last] = value
            except (IndexError, TypeError):
                raise RecipeError(Problem("no such position to set", where.file, path=key)) from None
        for table in (doc.keys, doc.values):
            for p in [p for p in table if p[: len(path)] == path]:
                del table[p]
            table[path] = where


def _override_path(data: Any, parts: list[str], where: Location) -> Path_:
    path: list[str | int] = []
    node = data
    for part in parts:
        if isinstance(node, list):
            if part.lstrip("-").isdigit():
                step: str | int = int(part)
            else:
                ids = [i for i, item in enumerate(node) if isinstance(item, dict) and item.get("id") == part]
                if not ids:
                    known = [item["id"] for item in node if isinstance(item, dict) and "id" in item]
                    raise RecipeError(Problem(f"no list item with id {part!r}", where.file, path=dotted(path),
                                              hint=did_you_mean(part, known, f"ids: {', '.join(map(str, known))}")))
                step = ids[0]
            node = node[step] if isinstance(step, int) and -len(node) <= step < len(node) else None
        else:
            step = part
            node = node.get(part) if isinstance(node, dict) else None
        path.append(step)
    return tuple(path)


def _walk(data: Any, path: Path_, where: Location, *, create: bool) -> Any:
    node = data
    for i, step in enumerate(path):
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            if create and isinstance(node, dict):
                node[step] = {}
                node = node[step]
            else:
                raise RecipeError(Problem("no such key to override", where.file,
                                          path=dotted(path[: i + 1]))) from None
    return node


def interpolate(doc: Document) -> None:
    """Resolve `${...}` with OmegaConf (`${vars.lr}`, `${oc.env:VAR,default}`); secrets are refused."""
    strings = [(p, v) for p, v in _strings(doc.data, ()) if "${" in v]
    if not strings:
        return
    problems = [doc.problem(p, f"`${{oc.env:{name}}}` would write a secret into plans and manifests",
                            hint=SECRET_HINT)
                for p, v in strings for name in _ENV_REF.findall(v) if is_secret_name(name)]
    if problems:
        raise RecipeError(problems)
    if (plain := plain_vars(doc.data, strings)) is not None:
        doc.data = plain
        return
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with _guarded_env() as refused:
            cfg = OmegaConf.create(doc.data)
            doc.data = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        path = _omegaconf_path(getattr(err, "full_key", None) or "")
        if refused:
            raise RecipeError(doc.problem(path, f"`oc.env` of {refused[0]} would write a secret into plans and "
                                          "manifests", hint=SECRET_HINT)) from None
        message = str(err).splitlines()[0]
        if "Recursive interpolation" in message or isinstance(err, RecursionError):
            message = "cyclic interpolation: " + message
        raise RecipeError(doc.problem(path, f"cannot interpolate: {message}")) from None
    except RecursionError:
        raise RecipeError(doc.problem((), "cyclic interpolation")) from None


_VARS_REF = re.compile(r"\$\{vars\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")


def plain_vars(data: Any, strings: list[tuple[Path_, str]]) -> Any | None:
    """`data` resolved without OmegaConf when every `${...}` is a plain `${vars.a.b}` to a value that has none
    itself (OmegaConf's import alone is a third of `recipe plan`); None for anything else (other resolvers,
    escapes, chains, a missing key, a mapping inside a string), which OmegaConf then resolves and reports.
    The result is what `OmegaConf.to_container(..., resolve=True)` gives (tests/sdk/test_interpolation.py)."""
    variables = data.get("vars") if isinstance(data, dict) else None
    if not isinstance(variables, dict) or any("${" in v for _, v in _strings(variables, ())):
        return None
    if any(v == "???" for _, v in _strings(data, ())):  # OmegaConf's missing-value marker
        return None

    def value(dotted_path: str) -> Any:
        node: Any = variables
        for part in dotted_path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(dotted_path)
            node = node[part]
        return node

    resolved: dict[Path_, Any] = {}
    try:
        for path, text in strings:
            if "\\" in text or _VARS_REF.sub("", text).count("${"):  # an escape, or another resolver
                return None
            whole = _VARS_REF.fullmatch(text)
            if whole:
                resolved[path] = copy.deepcopy(value(whole.group(1)))
                continue
            parts = [value(m.group(1)) for m in _VARS_REF.finditer(text)]
            if any(isinstance(p, (dict, list)) or isinstance(p, bool) or p is None for p in parts):
                return None
            resolved[path] = _VARS_REF.sub(lambda m: str(value(m.group(1))), text)
    except KeyError:
        return None
    out = copy.deepcopy(data)
    for path, new in resolved.items():
        node = out
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = new
    return out


@contextmanager
def _guarded_env() -> Iterator[list[str]]:
    """`oc.env` that refuses credential names, even ones only resolution reveals (`${oc.env:${vars.x}}`),
    for the duration of one resolution; yields the names it refused.

    OmegaConf's resolvers are global: the built-in one is put back after, so other users of OmegaConf
    in this process are unaffected.
    """
    from omegaconf import OmegaConf
    from omegaconf.basecontainer import BaseContainer
    from omegaconf.resolvers import oc

    refused: list[str] = []

    def env(key: str, *default: Any) -> Any:
        if is_secret_name(str(key)):
            refused.append(str(key))
            raise ValueError("a credential")
        return oc.env(key, *default)

    builtin = BaseContainer._resolvers.get("oc.env")
    OmegaConf.register_resolver("oc.env", env, replace=True, annotation_validation="off")
    try:
        yield refused
    finally:
        if builtin is None:
            BaseContainer._resolvers.pop("oc.env", None)
        else:
            BaseContainer._resolvers["oc.env"] = builtin


def refuse_secret_values(doc: Document) -> None:
    """No value (or key) may hold a credential's value, however it got there: a literal, an override,
    an environment variable under an innocent name, an interpolation of any depth."""
    values = secret_values()  # once, not once per string
    if not values:
        return
    problems = [doc.problem(p, f"holds the value of ${name} (a credential) and would write it into plans, "
                               "manifests and logs", hint=SECRET_HINT)
                for p, v in _strings(doc.data, (), keys=True) for name in secrets_in(v, values=values)]
    if problems:
        raise RecipeError(problems)


def _strings(node: Any, path: Path_, *, keys: bool = False) -> list[tuple[Path_, str]]:
    """Every string value under `node` with its path (and every mapping key, with `keys`)."""
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, dict):
        own = [((*path, k), str(k)) for k in node] if keys else []
        return own + [s for k, v in node.items() for s in _strings(v, (*path, k), keys=keys)]
    if isinstance(node, list):
        return [s for i, v in enumerate(node) for s in _strings(v, (*path, i), keys=keys)]
    return []


def _omegaconf_path(full_key: str) -> Path_:
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+", str(full_key)):
        parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


def load_document(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Document:
    """Read a recipe file, apply command-line overrides, resolve interpolation (in that precedence)."""
    doc = read(path)
    apply_overrides(doc, overrides)
    doc.overrides = as_strings(overrides, "overrides")
    interpolate(doc)
    refuse_secret_values(doc)
    return doc

"""Safe YAML loading that remembers the line of every key, with ``!secret`` and ``${ENV}``.

``load_yaml`` returns plain Python data (dicts, lists, scalars) plus a map from key path
to line number, so validation errors can say ``sites.sites.wien.bess.soc_min_pct`` *and*
where that key is in the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path_ = tuple[Hashable, ...]

SECRETS_FILE = "secrets.yaml"
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_STR_TAG = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_FILE_BYTES = 1024 * 1024  # a configuration of hundreds of sites is a few hundred KiB
# Nodes reached again through aliases (or merge keys) beyond the ones in the file: a legitimate
# config reuses a few anchors; a 1 KiB "billion laughs" file would expand to ~10^9 nodes.
MAX_ALIAS_NODES = 10_000


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration file."""

    path: str  # dotted key path, "" for the whole document
    line: int | None  # 1-based
    message: str
    source: str = "<string>"

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def format_path(path: Sequence[Hashable]) -> str:
    """``("sites", "wien", "rules", 0)`` -> ``sites.wien.rules[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(slots=True)
class LoadedYaml:
    """Parsed document plus the line (1-based) of every key path."""

    data: object
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[Hashable]) -> int | None:
        """Line of ``path``, or of its nearest ancestor present in the file."""
        parts = tuple(path)
        while True:
            try:
                line = self.lines.get(parts)
            except TypeError:  # unhashable path element
                line = None
            if line is not None or not parts:
                return line
            parts = parts[:-1]


class _AliasBomb(Exception):
    def __init__(self, node: Node) -> None:
        self.line = node.start_mark.line + 1


def _merged_pairs(node: Node, memo: dict[int, int], depth: int = 0) -> int:
    """How many key/value pairs ``node`` has once its merge keys (``<<``) are flattened."""
    if not isinstance(node, MappingNode) or depth > 100:
        return 0
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 0  # a recursive merge counts as nothing here; the walk reports it
    total = 0
    for key, value in node.value:
        if key.tag != _MERGE_TAG:
            total += 1
        elif isinstance(value, SequenceNode):
            total += sum(_merged_pairs(sub, memo, depth + 1) for sub in value.value)
        else:
            total += _merged_pairs(value, memo, depth + 1)
    memo[id(node)] = total
    return total


class _Walker:
    """Turns a composed node tree into plain data, recording lines and collecting issues."""

    def __init__(self, loader: yaml.SafeLoader, source: str, secrets_dir: Path | None) -> None:
        self.loader = loader
        self.source = source
        self.secrets_dir = secrets_dir
        self.lines: dict[Path_, int] = {}
        self.issues: list[ConfigIssue] = []
        self._secrets: dict[object, object] | None = None
        self._stack: set[int] = set()
        self._seen: set[int] = set()  # ids of the distinct nodes walked
        self._walked = 0  # nodes walked, counting each alias expansion again
        self._merge_memo: dict[int, int] = {}

    def issue(self, path: Path_, node: Node, message: str) -> None:
        line = node.start_mark.line + 1
        self.issues.append(ConfigIssue(format_path(path), line, message, self.source))

    def walk(self, node: Node, path: Path_) -> object:
        if id(node) in self._stack:
            self.issue(path, node, "recursive YAML alias")
            return None
        self._walked += 1
        self._seen.add(id(node))
        if self._walked - len(self._seen) > MAX_ALIAS_NODES:
            raise _AliasBomb(node)
        self._stack.add(id(node))
        try:
            if not isinstance(node, ScalarNode) and node.tag not in _COLLECTION_TAGS:
                self.issue(path, node, f"unsupported YAML tag {node.tag}")
                return None
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                out: list[object] = []
                for index, item in enumerate(node.value):
                    self.lines.setdefault((*path, index), item.start_mark.line + 1)
                    out.append(self.walk(item, (*path, index)))
                return out
            assert isinstance(node, ScalarNode)
            return self._scalar(node, path)
        finally:
            self._stack.discard(id(node))

    def _mapping(self, node: MappingNode, path: Path_) -> dict[Hashable, object]:
        if _merged_pairs(node, self._merge_memo) - len(node.value) > MAX_ALIAS_NODES:
            raise _AliasBomb(node)  # flattening would build the exponential list itself
        self.loader.flatten_mapping(node)  # YAML merge keys (<<)
        out: dict[Hashable, object] = {}
        first_line: dict[Hashable, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.issue(path, key_node, "mapping keys must be plain values")
                continue
            key = self._scalar(key_node, path)
            if not isinstance(key, Hashable):
                self.issue(path, key_node, "mapping keys must be plain values")
                continue
            if key in first_line:
                self.issue((*path, key), key_node, f"duplicate key (first on line {first_line[key]})")
                continue
            first_line[key] = line
            self.lines[(*path, key)] = line
            out[key] = self.walk(value_node, (*path, key))
        return out

    def _scalar(self, node: ScalarNode, path: Path_) -> object:
        if node.tag == "!secret":
            return self._secret(node, path)
        if node.tag.startswith("!") and not node.tag.startswith("!!"):
            self.issue(path, node, f"unknown YAML tag {node.tag}")
            return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            self.issue(path, node, f"invalid value: {exc}".splitlines()[0])
            return None
        if isinstance(value, str) and "${" in value:
            return self._substitute(node, value, path)
        return value

    def _substitute(self, node: ScalarNode, value: str, path: Path_) -> object:
        def repl(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            env = os.environ.get(name)
            if env is not None:
                return env
            if default is not None:
                return default
            self.issue(path, node, f"environment variable {name} is not set (and has no default)")
            return ""

        text = _ENV_RE.sub(repl, value)
        if node.style is not None or node.tag != _STR_TAG:
            return text  # quoted or explicitly tagged: stays a string
        # A plain scalar like ``port: ${PORT:-502}`` gets its type from the substituted text.
        tag = self.loader.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        try:
            return self.loader.construct_object(ScalarNode(tag, text), deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            return text

    def _secret(self, node: ScalarNode, path: Path_) -> object:
        name = node.value
        secrets = self._load_secrets(node, path)
        if secrets is None:
            return None
        if name not in secrets:
            self.issue(path, node, f"secret {name!r} not found in {self._secrets_path()}")
            return None
        return secrets[name]

    def _secrets_path(self) -> str:
        if self.secrets_dir is None:
            return SECRETS_FILE
        return str(self.secrets_dir / SECRETS_FILE)

    def _load_secrets(self, node: ScalarNode, path: Path_) -> dict[object, object] | None:
        if self._secrets is not None:
            return self._secrets
        if self.secrets_dir is None:
            self.issue(path, node, "!secret used, but there is no secrets file for this config")
            return None
        secrets_path = self.secrets_dir / SECRETS_FILE
        try:
            data = yaml.safe_load(secrets_path.read_text(encoding="utf-8"))
        except OSError as exc:
            self.issue(path, node, f"cannot read secrets file {secrets_path}: {exc.strerror}")
            return None
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            self.issue(path, node, f"invalid secrets file {secrets_path}: {exc}".splitlines()[0])
            return None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.issue(path, node, f"secrets file {secrets_path} must be a mapping")
            return None
        self._secrets = data
        return data


def too_large(size: str, source: str) -> ConfigIssue:
    """The issue for a file (or text) over ``MAX_FILE_BYTES``; ``size`` says how large it is."""
    limit = MAX_FILE_BYTES // 1024
    return ConfigIssue("", None, f"file too large ({size}; the limit is {limit:,} KiB)", source)


def _syntax_issue(exc: yaml.YAMLError, text: str, source: str) -> ConfigIssue:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or exc.context or "invalid YAML"
        message = f"YAML syntax error at column {mark.column + 1}: {problem}"
        return ConfigIssue("", mark.line + 1, message, source)
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return ConfigIssue("", line, f"YAML syntax error: {exc.reason}", source)
    return ConfigIssue("", None, f"YAML syntax error: {exc}", source)


def load_yaml(text: str, source: str = "<string>", secrets_dir: Path | None = None) -> LoadedYaml:
    """Parse ``text`` (one YAML document); raise ``ConfigError`` on any problem.

    Refused: text over ``MAX_FILE_BYTES`` and aliases that expand to more than ``MAX_ALIAS_NODES``
    nodes (both before any large allocation).
    """
    too_deep = ConfigIssue("", None, "YAML nested too deeply", source)
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError([too_large(f"{len(text):,} characters", source)])
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # non-printable characters are rejected up front
        raise ConfigError([_syntax_issue(exc, text, source)]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            return LoadedYaml(None, {})
        walker = _Walker(loader, source, secrets_dir)
        walker.lines[()] = root.start_mark.line + 1
        data = walker.walk(root, ())
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_issue(exc, text, source)]) from None
    except RecursionError:
        raise ConfigError([too_deep]) from None
    except _AliasBomb as bomb:
        message = f"too many aliases (YAML alias bomb?): they expand to over {MAX_ALIAS_NODES:,} nodes"
        raise ConfigError([ConfigIssue("", bomb.line, message, source)]) from None
    finally:
        loader.dispose()
    if walker.issues:
        raise ConfigError(walker.issues)
    return LoadedYaml(data, walker.lines)

"""Read and validate rules/routing.toml: unknown predicates, kinds or parameters fail at start-up."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mailbot.classify.chain import Rule, RuleChain, Test
from mailbot.classify.predicates import PREDICATES, TOML_TYPE_NAMES

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class RuleError(ValueError):
    """A rule file is wrong; the message names the file, the rule and the problem."""


def _test(spec: Any, where: str, negate: bool) -> Test:
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict) and "test" in spec:
        params = {k: v for k, v in spec.items() if k != "test"}
        name = spec["test"]
    else:
        raise RuleError(f"{where}: a test is a predicate name or a table with 'test = \"name\"'")
    pred = PREDICATES.get(name)
    if pred is None:
        raise RuleError(f"{where}: unknown predicate {name!r} (known: {', '.join(sorted(PREDICATES))})")
    for key in pred.params:
        if key not in params:
            raise RuleError(f"{where}: predicate {name!r} needs parameter {key!r}")
    known = {**pred.params, **pred.optional}
    for key, value in params.items():
        # A misspelt parameter would otherwise be ignored silently and its default used.
        if key not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise RuleError(f"{where}: predicate {name!r} has no parameter {key!r} (it takes: {takes})")
        typ = known[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            kind = TOML_TYPE_NAMES.get(typ, typ.__name__)
            raise RuleError(f"{where}: {name}.{key} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
        if key == "patterns" and isinstance(value, list):  # a list: checked just above
            for pattern in value:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise RuleError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
    return Test(name, params, negate)


def load_rules(path: Path, known_kinds: Iterable[str]) -> RuleChain:
    kinds = set(known_kinds)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RuleError(f"rule file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{path}: not valid TOML: {exc}") from None
    rules: list[Rule] = []
    names: set[str] = set()
    for i, raw in enumerate(data.get("rule", [])):
        where = f"{path.name} rule #{i + 1}"
        name = raw.get("name", "")
        if not _NAME.match(name):
            raise RuleError(f"{where}: name {name!r} must be kebab-case")
        where = f"{path.name} rule {name!r}"
        if name in names:
            raise RuleError(f"{where}: name used twice")
        names.add(name)
        kind = raw.get("kind", "")
        if kind not in kinds:
            raise RuleError(f"{where}: unknown kind {kind!r} (known: {', '.join(sorted(kinds))})")
        unknown = set(raw) - {"name", "kind", "when", "unless", "description"}
        if unknown:
            raise RuleError(f"{where}: unknown keys {sorted(unknown)}")
        when = raw.get("when", [])
        unless = raw.get("unless", [])
        when = [when] if isinstance(when, str | dict) else when
        unless = [unless] if isinstance(unless, str | dict) else unless
        tests = [_test(t, where, False) for t in when] + [_test(t, where, True) for t in unless]
        if not tests:
            raise RuleError(f"{where}: needs at least one test in 'when' (use \"always\")")
        rules.append(Rule(name, kind, tuple(tests), str(path)))
    if not rules:
        raise RuleError(f"{path}: no [[rule]] tables")
    last = rules[-1]
    if [t.predicate for t in last.tests] != ["always"]:
        raise RuleError(f"{path}: the last rule must be a catch-all (when = \"always\")")
    return RuleChain(rules)

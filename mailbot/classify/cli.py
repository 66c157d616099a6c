"""`mailbot rules`: the loaded rule chain in order, or the predicates its tests may use and their parameters."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from mailbot.classify.predicates import PREDICATES, TOML_TYPE_NAMES
from mailbot.config import Settings


def _params(required: Mapping[str, type], optional: Mapping[str, type]) -> str:
    parts = [f"{k} ({TOML_TYPE_NAMES.get(t, t.__name__)})" for k, t in required.items()]
    parts += [f"[{k} ({TOML_TYPE_NAMES.get(t, t.__name__)})]" for k, t in optional.items()]
    return ", ".join(parts)


def predicate_rows() -> list[dict[str, Any]]:
    return [
        {"predicate": name, "parameters": _params(spec.params, spec.optional), "description": spec.help}
        for name, spec in sorted(PREDICATES.items())
    ]


def rule_rows(settings: Settings) -> list[dict[str, Any]]:
    from mailbot.app import routing_rules  # the app imports the CLI's modules: import it when used

    chain = routing_rules(settings)
    rows = []
    for i, rule in enumerate(chain.rules, 1):
        tests = [
            ("not " if t.negate else "")
            + t.predicate
            + (f"({', '.join(f'{k}={json.dumps(v, ensure_ascii=False)}' for k, v in t.params.items())})" if t.params else "")
            for t in rule.tests
        ]
        rows.append({"order": i, "rule": rule.name, "kind": rule.kind, "tests": " and ".join(tests)})
    return rows


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from mailbot.cli import emit

    if args.predicates:
        emit(predicate_rows(), args.format, ["predicate", "parameters", "description"])
    else:
        emit(rule_rows(settings), args.format, ["order", "rule", "kind", "tests"])
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `mailbot rules` to the main parser."""
    from mailbot.cli import add_format

    s = sub.add_parser(
        "rules",
        help="the classification rules in order (first match wins); --predicates: what their tests may use",
    )
    s.add_argument(
        "--predicates",
        action="store_true",
        help="list the predicates and their parameters ([optional] ones have a default)",
    )
    add_format(s)
    s.set_defaults(func=cmd_rules)

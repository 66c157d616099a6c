"""Run the ordered rule chain: the first rule whose tests all hold decides the kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mailbot.classify.facts import Facts
from mailbot.classify.predicates import PREDICATES, Predicate
from mailbot.mail.parse import ParsedMessage


@dataclass(frozen=True)
class Test:
    predicate: str
    params: Mapping[str, Any] = field(default_factory=dict)
    negate: bool = False
    # The predicate's function, looked up once: every message runs about twenty tests.
    fn: Predicate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fn", PREDICATES[self.predicate].fn)

    def holds(self, msg: ParsedMessage, facts: Facts) -> bool:
        result = self.fn(msg, facts, self.params)
        return not result if self.negate else result


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    tests: tuple[Test, ...]
    source: str = ""  # file the rule came from, for messages about it


@dataclass(frozen=True)
class Decision:
    kind: str
    rule: str


class RuleChain:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    def classify(
        self, msg: ParsedMessage, facts: Facts, skip_kinds: frozenset[str] = frozenset()
    ) -> Decision:
        """The first matching rule's kind; rules yielding `skip_kinds` are passed over (a
        facilitator's approval releases a held post from the holding rules, not from the rest)."""
        for rule in self.rules:
            if rule.kind in skip_kinds:
                continue
            for test in rule.tests:  # a loop, not all(<generator>): it runs for every rule of every message
                if not test.holds(msg, facts):
                    break
            else:
                return Decision(rule.kind, rule.name)
        # The loader insists on a final catch-all, so this is only reached by hand-built chains.
        return Decision("post", "default")

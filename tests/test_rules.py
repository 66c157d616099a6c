"""The rule files are data: the shipped chain loads, and mistakes in a rule file are named at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.classify.loader import RuleError, load_rules
from mailbot.config import REPO_ROOT
from mailbot.handlers import HANDLERS


def test_shipped_rules_load() -> None:
    chain = load_rules(REPO_ROOT / "rules" / "routing.toml", HANDLERS.keys())
    names = [r.name for r in chain.rules]
    assert names[0] == "loop-marker" and names[-1] == "post"
    # Loops and bounces are decided before anything could redistribute them.
    assert names.index("auto-reply") < names.index("post")
    assert names.index("delivery-status") < names.index("non-member")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('[[rule]]\nname = "x"\nwhen = "no-such-test"\nkind = "post"\n', "unknown predicate"),
        ('[[rule]]\nname = "x"\nwhen = "always"\nkind = "spam"\n', "unknown kind"),
        ('[[rule]]\nname = "Bad Name"\nwhen = "always"\nkind = "post"\n', "kebab-case"),
        ('[[rule]]\nname = "x"\nwhen = { test = "subject-matches" }\nkind = "post"\n', "needs parameter"),
        (
            '[[rule]]\nname = "x"\nwhen = { test = "subject-matches", patterns = ["(("] }\nkind = "post"\n',
            "bad regular expression",
        ),
        ('[[rule]]\nname = "x"\nwhen = "is-bounce"\nkind = "bounce"\n', "catch-all"),
        ('[[rule]]\nname = "x"\nwhen = "always"\nkind = "post"\ncolour = 1\n', "unknown keys"),
        # A misspelt parameter used to be ignored silently (the default applied instead).
        (
            '[[rule]]\nname = "x"\nwhen = { test = "sender-over-post-rate", per_hours = 5 }\nkind = "held"\n',
            "has no parameter 'per_hours' \\(it takes: per_hour, per_minute\\)",
        ),
        (
            '[[rule]]\nname = "x"\nwhen = { test = "sender-over-post-rate", per_hour = "5" }\nkind = "held"\n',
            "sender-over-post-rate.per_hour must be an integer",
        ),
        ('[[rule]]\nname = "x"\nwhen = { test = "always", lines = 3 }\nkind = "post"\n', "it takes: none"),
    ],
)
def test_rule_file_mistakes_are_named(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RuleError, match=fragment):
        load_rules(path, HANDLERS.keys())


def test_a_rule_applies_only_when_its_unless_tests_do_not_hold(tmp_path: Path) -> None:
    from mailbot.classify.facts import Facts
    from mailbot.mail.bounces import NOT_A_BOUNCE
    from mailbot.mail.identity import Route
    from mailbot.mail.parse import parse_message

    path = tmp_path / "routing.toml"
    path.write_text(
        '[[rule]]\nname = "urgent"\nkind = "held"\nwhen = { test = "subject-matches", patterns = ["urgent"] }\n'
        'unless = { test = "subject-matches", patterns = ["resolved"] }\n'
        '[[rule]]\nname = "post"\nwhen = "always"\nkind = "post"\n',
        encoding="utf-8",
    )
    chain = load_rules(path, HANDLERS.keys())
    facts = Facts(Route(None, "post"), None, frozenset(), NOT_A_BOUNCE, 10_000_000)

    def rule_for(subject: str) -> str:
        msg = parse_message(f"From: a@example.org\nSubject: {subject}\n\nbody\n".encode())
        return chain.classify(msg, facts).rule

    assert rule_for("urgent: printer down") == "urgent"
    assert rule_for("urgent: printer down (resolved)") == "post"  # the unless test holds
    assert rule_for("printer down") == "post"  # the when test does not hold

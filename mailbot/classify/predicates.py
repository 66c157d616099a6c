"""The closed set of predicates rules may name: pure functions of (message, facts, params)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailbot.classify.facts import Facts
from mailbot.mail.compose import LOOP_HEADER
from mailbot.mail.parse import ParsedMessage
from mailbot.moderation.predicates import MODERATION_PREDICATES

Predicate = Callable[[ParsedMessage, Facts, Mapping[str, Any]], bool]


# How a parameter's type reads to someone writing rules in TOML (loader errors, `mailbot rules`).
TOML_TYPE_NAMES: dict[type, str] = {int: "integer", str: "string", list: "list", bool: "boolean"}


@dataclass(frozen=True)
class PredicateSpec:
    fn: Predicate
    params: Mapping[str, type]  # required parameter names and their TOML types
    help: str
    optional: Mapping[str, type] = field(default_factory=dict)  # may be given; else a default applies


def _always(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return True


def _has_loop_marker(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    # Any of our communities' list ids in our loop header means we wrote this ourselves.
    return bool(msg.headers.get(LOOP_HEADER.lower()))


def _from_own_address(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return bool(msg.sender_email) and msg.sender_email in facts.own_addresses


def _to_address_role(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.route.role == p["role"]


def _is_bounce(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.bounce.kind == "bounce"


def _is_auto_reply(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.bounce.kind == "auto-reply"


def _no_community(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.community is None


def _size_over(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    limit = int(p.get("bytes") or facts.max_message_bytes)
    return msg.size > limit


def _sender_not_member(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return not facts.is_member


def _sender_role_in(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.member is not None and facts.member.role in p["roles"]


def _compiled(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(x, re.IGNORECASE) for x in patterns]


_CACHE: dict[tuple[str, ...], list[re.Pattern[str]]] = {}


def _patterns(p: Mapping[str, Any]) -> list[re.Pattern[str]]:
    key = tuple(p["patterns"])
    if key not in _CACHE:
        _CACHE[key] = _compiled(list(key))
    return _CACHE[key]


def _subject_matches(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return any(rx.search(msg.subject) for rx in _patterns(p))


def _body_start_matches(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    lines = int(p.get("lines", 3))
    head = "\n".join([ln for ln in msg.new_text.splitlines() if ln.strip()][:lines])
    return any(rx.search(head) for rx in _patterns(p))


def _subaddress_is(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.route.subaddress.lower() in [t.lower() for t in p["tags"]]


def _replies_to_thread(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    return facts.thread_number is not None


def _header_matches(msg: ParsedMessage, facts: Facts, p: Mapping[str, Any]) -> bool:
    values = msg.headers.get(str(p["header"]).lower(), ())
    return any(rx.search(v) for v in values for rx in _patterns(p))


PREDICATES: dict[str, PredicateSpec] = {
    "always": PredicateSpec(_always, {}, "always true (the last rule)"),
    "has-loop-marker": PredicateSpec(_has_loop_marker, {}, "carries our X-Mailbot-Loop header"),
    "from-own-address": PredicateSpec(_from_own_address, {}, "From is one of our addresses"),
    "to-address-role": PredicateSpec(
        _to_address_role, {"role": str}, "sent to the group/request/bounces/owner address"
    ),
    "is-bounce": PredicateSpec(_is_bounce, {}, "a delivery status notification or bounce"),
    "is-auto-reply": PredicateSpec(_is_auto_reply, {}, "RFC 3834 or out-of-office auto-reply"),
    "no-community": PredicateSpec(_no_community, {}, "addressed to none of our communities"),
    "size-over": PredicateSpec(_size_over, {}, "larger than `bytes` (default: limits)", {"bytes": int}),
    "sender-not-member": PredicateSpec(_sender_not_member, {}, "From is not a member"),
    "sender-role-in": PredicateSpec(_sender_role_in, {"roles": list}, "sender holds a role"),
    "subject-matches": PredicateSpec(_subject_matches, {"patterns": list}, "subject regex"),
    "body-start-matches": PredicateSpec(
        _body_start_matches, {"patterns": list}, "regex over the first new lines", {"lines": int}
    ),
    "subaddress-is": PredicateSpec(_subaddress_is, {"tags": list}, "list+TAG@ sub-address"),
    "replies-to-thread": PredicateSpec(_replies_to_thread, {}, "replies to a known thread"),
    "header-matches": PredicateSpec(
        _header_matches, {"header": str, "patterns": list}, "a header value matches a regex"
    ),
}

# Moderation predicates (attachments, first posts, rate limits) live with the moderation code.
PREDICATES.update(
    {name: PredicateSpec(*spec) for name, spec in MODERATION_PREDICATES.items()}
)

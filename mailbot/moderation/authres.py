"""Read the receiving server's Authentication-Results (RFC 8601): did DMARC or aligned DKIM pass for From?

Only headers our own server added are trusted: those whose authserv-id is configured, or else the
topmost one (a sender can forge any header below it, but the final MTA prepends its own on top).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.mail.parse import ParsedMessage

_COMMENT = re.compile(r"\([^()]*\)")
_METHOD = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROP = re.compile(r"([a-z0-9_-]+)\.([a-z0-9_-]+)\s*=\s*(\"[^\"]*\"|[^\s;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class MethodResult:
    method: str  # dmarc | dkim | spf | ...
    result: str  # pass | fail | none | ...
    props: dict[str, str]  # 'header.from' -> 'example.org'


@dataclass(frozen=True)
class AuthVerdict:
    authserv_id: str
    dmarc: str  # pass | fail | none | '' (absent)
    dkim_aligned: bool  # a passing DKIM signature whose d= aligns with the From domain
    from_domain: str

    @property
    def passed(self) -> bool:
        """DMARC pass, or (no DMARC verdict at all) an aligned DKIM pass. dmarc=fail always loses."""
        if self.dmarc == "fail":
            return False
        return self.dmarc == "pass" or self.dkim_aligned


UNAUTHENTICATED = AuthVerdict("", "", False, "")


def parse_header(value: str) -> tuple[str, list[MethodResult]]:
    """(authserv-id, method results) of one Authentication-Results value."""
    text = value
    for _ in range(3):  # nested comments are rare; three passes flatten them
        text = _COMMENT.sub(" ", text)
    parts = [p.strip() for p in text.split(";")]
    if not parts or not parts[0]:
        return "", []
    authserv = parts[0].split()[0].lower() if parts[0].split() else ""
    results: list[MethodResult] = []
    for part in parts[1:]:
        m = _METHOD.match(part)
        if not m:
            continue
        props = {f"{a.lower()}.{b.lower()}": v.strip('"').lower() for a, b, v in _PROP.findall(m[3])}
        results.append(MethodResult(m[1].lower(), m[2].lower(), props))
    return authserv, results


def _aligned(d: str, from_domain: str) -> bool:
    # Relaxed alignment: same domain or one a subdomain of the other (organisational domain check
    # without a public-suffix list; good enough for the organisations our communities run in).
    d, f = d.lower().strip("."), from_domain.lower().strip(".")
    return bool(d) and (d == f or f.endswith("." + d) or d.endswith("." + f)) and "." in d


def verdict(msg: ParsedMessage, authserv_ids: Sequence[str] = ()) -> AuthVerdict:
    headers = list(msg.headers.get("authentication-results", ()))
    from_domain = msg.sender_email.rpartition("@")[2]
    if not headers or not from_domain:
        return UNAUTHENTICATED
    wanted = {a.lower() for a in authserv_ids}
    trusted: list[tuple[str, list[MethodResult]]] = []
    for value in headers:
        authserv, results = parse_header(value)
        if wanted and authserv in wanted:
            trusted.append((authserv, results))
    if not wanted:
        trusted = [parse_header(headers[0])]
    if not trusted:
        return UNAUTHENTICATED
    dmarc = ""
    dkim = False
    for _authserv, results in trusted:
        for r in results:
            if r.method == "dmarc":
                hfrom = r.props.get("header.from", from_domain)
                if hfrom != from_domain:
                    continue  # a verdict about another domain says nothing about this From
                if r.result == "pass" and dmarc != "fail":
                    dmarc = "pass"
                elif r.result in ("fail", "quarantine", "reject"):
                    dmarc = "fail"
                elif not dmarc:
                    dmarc = r.result
            elif r.method == "dkim" and r.result == "pass":
                d = r.props.get("header.d") or r.props.get("header.i", "").rpartition("@")[2]
                dkim = dkim or _aligned(d, from_domain)
    return AuthVerdict(trusted[0][0], dmarc, dkim, from_domain)

"""Member management shared by the CLI and e-mail commands: add, remove, import, roles, delivery."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.clock import Clock
from mailbot.config import DELIVERY_MODES, ROLES
from mailbot.mail.verp import new_member_token
from mailbot.store.models import Community, Member


class MemberError(ValueError):
    """A member operation cannot be done; the message is for the person who asked."""


def shown_name(registered: str | None, signed: str | None, address: str) -> str:
    """How mail, threads and entries name a person: the member list's name, else the name their
    mail was signed with (From's display name), else the address."""
    return registered or signed or address


def normalise_email(address: str) -> str:
    address = address.strip().strip("<>").strip()
    if address.count("@") != 1 or not all(address.split("@")) or any(c.isspace() for c in address):
        raise MemberError(f"not an e-mail address: {address!r}")
    return address.lower()


def check_role(role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise MemberError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return role


def check_delivery(mode: str) -> str:
    mode = mode.strip().lower()
    if mode not in DELIVERY_MODES:
        raise MemberError(f"unknown delivery {mode!r} (modes: {', '.join(DELIVERY_MODES)})")
    return mode


def find(session: Session, community: Community, email: str) -> Member | None:
    return session.scalar(
        select(Member).where(Member.community_id == community.id, Member.email == normalise_email(email))
    )


def add(
    session: Session,
    community: Community,
    email: str,
    clock: Clock,
    *,
    name: str = "",
    role: str = "member",
    section: str = "",
    delivery: str = "each",
) -> tuple[Member, bool]:
    """Add (or re-activate) a member; returns (member, created)."""
    email = normalise_email(email)
    role, delivery = check_role(role), check_delivery(delivery)
    member = find(session, community, email)
    if member is not None:
        created = member.status == "left"
        member.status = "active" if member.status == "left" else member.status
        member.name = name or member.name
        member.section = section or member.section
        if role != "member":
            member.role = role
        return member, created
    member = Member(
        community_id=community.id,
        email=email,
        name=name,
        section=section,
        role=role,
        delivery=delivery,
        status="active",
        verp_token=new_member_token(),
        bounce_score=0.0,
        disabled_reason="",
        intro="",
        expertise="",
        joined_at=clock.now(),
    )
    session.add(member)
    session.flush()
    return member, True


def remove(session: Session, community: Community, email: str) -> Member:
    """Mark a member as left (history and authorship stay intact)."""
    member = find(session, community, email)
    if member is None or member.status == "left":
        raise MemberError(f"{email} is not a member of {community.slug}")
    member.status = "left"
    return member


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    section: str
    role: str


def read_csv(path: Path) -> Iterator[ImportRow | MemberError]:
    """Rows of a members CSV (email, name, section or department, role); BOM and Excel exports welcome."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        headers = {h.strip().lower(): h for h in reader.fieldnames or []}
        if "email" not in headers:
            raise MemberError(f"{path}: the first line must name the columns, including 'email'")
        section_key = headers.get("section") or headers.get("department")
        for i, row in enumerate(reader, start=2):
            try:
                yield ImportRow(
                    line=i,
                    email=normalise_email(row[headers["email"]] or ""),
                    name=(row.get(headers.get("name", ""), "") or "").strip(),
                    section=(row.get(section_key or "", "") or "").strip(),
                    role=check_role(row.get(headers.get("role", ""), "") or "member"),
                )
            except MemberError as exc:
                yield MemberError(f"line {i}: {exc}")


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def as_dict(m: Member) -> dict[str, object]:
    return {
        "email": m.email,
        "name": m.name,
        "section": m.section,
        "role": m.role,
        "delivery": m.delivery,
        "status": m.status,
        "bounce_score": round(m.bounce_score, 2),
        "disabled_reason": m.disabled_reason,
        "joined_at": m.joined_at.isoformat(),
        "last_post_at": m.last_post_at.isoformat() if m.last_post_at else None,
    }


def listing(session: Session, community: Community, *, include_left: bool = False) -> Iterable[Member]:
    query = select(Member).where(Member.community_id == community.id).order_by(Member.email)
    if not include_left:
        query = query.where(Member.status != "left")
    return session.scalars(query)

"""The one permission table: which role may do what. `mailbot roles` prints it; commands consult it."""

from __future__ import annotations

from mailbot.config import ROLES

# Thai names as CoP members know them (คุณอำนวย facilitates, คุณลิขิต records, คุณเอื้อ sponsors).
ROLE_NAMES_TH = {
    "member": "สมาชิก",
    "facilitator": "คุณอำนวย",
    "scribe": "คุณลิขิต",
    "sponsor": "คุณเอื้อ",
    "admin": "ผู้ดูแลระบบ",
}

# permission id -> (roles that hold it, one-line description). Privileged permissions also need a
# passing DMARC/DKIM verdict when the community asks for it (see PRIVILEGED).
PERMISSIONS: dict[str, tuple[frozenset[str], str]] = {
    "post": (frozenset(ROLES), "post to the group"),
    "use-commands": (frozenset(ROLES), "e-mail commands about oneself (digest, nomail, profile, stats)"),
    "search-knowledge": (frozenset(ROLES), "search and read knowledge entries"),
    "accept-own-answer": (frozenset(ROLES), "accept an answer to one's own question"),
    "approve-held": (frozenset({"facilitator", "admin"}), "approve, reject or discard held posts"),
    "approve-members": (frozenset({"facilitator", "admin"}), "approve join requests"),
    "accept-on-behalf": (
        frozenset({"facilitator", "scribe", "admin"}),
        "accept an answer on the asker's behalf",
    ),
    "edit-knowledge": (frozenset({"scribe", "facilitator", "admin"}), "edit and review knowledge entries"),
    "publish-knowledge": (
        frozenset({"scribe", "admin"}),
        "publish an entry held for scribe review (what a scribe files is published at once)",
    ),
    "receive-bounce-notices": (frozenset({"facilitator", "admin"}), "hear about members disabled by bounces"),
    "receive-summaries": (frozenset({"sponsor", "facilitator", "admin"}), "weekly manager summary"),
    "change-roles": (frozenset({"admin"}), "give or take roles"),
}

PRIVILEGED = frozenset({"approve-held", "approve-members", "accept-on-behalf", "change-roles"})


def can(role: str | None, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return role is not None and role in PERMISSIONS[permission][0]


def roles_with(permission: str) -> tuple[str, ...]:
    holders = PERMISSIONS[permission][0]
    return tuple(r for r in ROLES if r in holders)


def table_rows() -> list[dict[str, object]]:
    """One row per permission, one column per role ('yes'/''), for `mailbot roles`."""
    rows: list[dict[str, object]] = []
    for perm, (holders, text) in PERMISSIONS.items():
        row: dict[str, object] = {"permission": perm}
        row.update({r: ("yes" if r in holders else "") for r in ROLES})
        row["authenticated"] = "if required" if perm in PRIVILEGED else ""
        row["description"] = text
        rows.append(row)
    return rows

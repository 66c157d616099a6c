"""What every job receives (sessions, settings, renderer, clock) and what a run reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from mailbot.clock import Clock
from mailbot.config import Settings
from mailbot.render import Renderer

if TYPE_CHECKING:
    from mailbot.app import App


@dataclass(frozen=True)
class JobEnv:
    sessions: sessionmaker[Session]
    settings: Settings
    renderer: Renderer
    clock: Clock

    @classmethod
    def from_app(cls, app: App) -> JobEnv:
        return cls(app.sessions, app.settings, app.renderer, app.clock)


@dataclass(frozen=True)
class RunResult:
    job: str
    community: str
    period: str
    status: str  # done | already-done | skipped | missed | disabled
    messages: int = 0
    recipients: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "job": self.job,
            "community": self.community,
            "period": self.period,
            "status": self.status,
            "messages": self.messages,
            "recipients": self.recipients,
            "detail": self.detail,
        }

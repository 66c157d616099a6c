"""Settings: TOML file, environment overrides for secrets, clear errors for mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.config import ConfigError, load

GOOD = """
[database]
url = "postgresql://mailbot@db.example.org/mailbot"

[imap]
host = "imap.example.org"
username = "km-it"
password = "from-file"

[smtp]
host = "smtp.example.org"
port = 587
starttls = true

[[community]]
slug = "km-it"
name = "ชุมชนนักปฏิบัติ KM-IT"
address = "KM-IT@example.org"
subject_prefix = "[KM-IT]"

[[community]]
slug = "km-net"
name = "KM Network"
address = "km-net@example.org"
language = "en"
timezone = "Asia/Tokyo"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_embedded_defaults_give_a_runnable_demo() -> None:
    s = load(None, environ={})
    assert s.database_url.startswith("sqlite:///")
    assert s.inbound_smtp_enabled and s.inbound_smtp.port == 2525
    assert not s.smtp.enabled  # outbound goes to the Maildir
    assert [c.slug for c in s.communities] == ["km-it"]
    assert s.communities[0].timezone == "Asia/Bangkok" and s.communities[0].language == "th"


def test_file_with_several_communities(tmp_path: Path) -> None:
    s = load(write(tmp_path, GOOD), environ={})
    km, net = s.communities
    assert km.address == "km-it@example.org"  # lower-cased
    assert km.request_address == "km-it-request@example.org"
    assert km.bounces_address == "km-it-bounces@example.org"
    assert km.list_id == "km-it.example.org"
    assert net.language == "en" and str(net.tz) == "Asia/Tokyo"
    assert s.smtp.port == 587 and s.smtp.starttls
    assert not s.inbound_smtp_enabled  # IMAP configured: no listener unless asked


def test_environment_overrides_secrets(tmp_path: Path) -> None:
    env = {
        "MAILBOT_IMAP__PASSWORD": "from-env",
        "MAILBOT_SMTP__PORT": "2525",
        "MAILBOT_SMTP__STARTTLS": "false",
        "MAILBOT_CONFIG": str(write(tmp_path, GOOD)),
    }
    s = load(None, environ=env)
    assert s.imap.password == "from-env"
    assert s.smtp.port == 2525 and s.smtp.starttls is False


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[imap]\nhots = "x"\n', "unknown key 'hots'"),
        ('[smtp]\nport = "25"\n', "smtp.port: expected int"),
        ('[[community]]\nslug = "A B"\naddress = "a@b"\n', "slug must be"),
        ('[[community]]\nslug = "a"\naddress = "nobody"\n', "not an e-mail address"),
        ('[[community]]\nslug = "a"\naddress = "a@b"\ntimezone = "Mars/Base"\n', "unknown timezone"),
        ('[[community]]\nslug = "a"\naddress = "a@b"\n[[community]]\nslug = "b"\naddress = "A@b"\n', "used by two"),
        ("[database\n", "not valid TOML"),
        ("[smtp]\ngather_seconds = 5.0\n", "smtp.gather_seconds must be between 0 (off) and 1"),
        ('[[community]]\nslug = "a"\naddress = "a@b"\naccept_offer_days = -1\n', "accept_offer_days must be 0 (off)"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load(write(tmp_path, text), environ={})


def test_unknown_env_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="MAILBOT_IMAP__PASWORD"):
        load(None, environ={"MAILBOT_IMAP__PASWORD": "x"})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.toml", environ={})


def test_schedule_settings_are_typed(tmp_path: Path) -> None:
    text = '[[community]]\nslug = "a"\naddress = "a@b"\ntip_holidays = "2026-12-05"\n'
    with pytest.raises(ConfigError, match="tip_holidays: expected list"):
        load(write(tmp_path, text), environ={})
    ok = load(write(tmp_path, text.replace('"2026-12-05"', '["2026-12-05"]')), environ={})
    assert ok.communities[0].tip_holidays == ["2026-12-05"]

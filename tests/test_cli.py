"""The command line as an administrator uses it: members, status, check, with JSON output for scripts."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.cli import main
from mailbot.config import REPO_ROOT


@pytest.fixture
def cfg(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(
        f"""
[database]
url = "{db_url}"
[paths]
data_dir = "{tmp_path / 'data'}"

[[community]]
slug = "km-it"
name = "ชุมชน KM-IT"
address = "km-it@example.org"

[[community]]
slug = "km-net"
address = "km-net@example.org"
language = "en"
""",
        encoding="utf-8",
    )
    return path


def run(cfg: Path, *args: str) -> int:
    return main(["--config", str(cfg), *args])


def listing(cfg: Path, capsys: pytest.CaptureFixture[str], community: str = "km-it") -> list[dict[str, object]]:
    capsys.readouterr()
    assert run(cfg, "members", "list", community, "--format", "json") == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_members_lifecycle(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "members", "add", "km-it", "Somchai@Example.org", "--name", "สมชาย ใจดี", "--section", "IT") == 0
    assert run(cfg, "members", "add", "km-it", "suda@example.org", "--role", "facilitator") == 0
    assert run(cfg, "members", "set-role", "km-it", "somchai@example.org", "scribe") == 0
    assert run(cfg, "members", "set-delivery", "km-it", "suda@example.org", "none") == 0
    rows = {r["email"]: r for r in listing(cfg, capsys)}
    assert rows["somchai@example.org"]["name"] == "สมชาย ใจดี"
    assert rows["somchai@example.org"]["role"] == "scribe"
    assert rows["suda@example.org"]["delivery"] == "none"
    # Communities keep their own members.
    assert listing(cfg, capsys, "km-net") == []
    assert run(cfg, "members", "remove", "km-it", "suda@example.org") == 0
    assert [r["email"] for r in listing(cfg, capsys)] == ["somchai@example.org"]


def test_import_csv_reports_bad_rows(cfg: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "members.csv"
    csv_file.write_text(
        "\ufeffemail,name,department,role\n"
        "anan@example.org,อนันต์ ช่างคิด,ส่วนเครือข่าย,member\n"
        "pim@example.org,พิมพ์ใจ,ส่วนบริการ,scribe\n"
        "not-an-address,Nobody,,member\n"
        "boss@example.org,ผอ.,ฝ่ายบริหาร,sponsor\n"
        "x@example.org,X,,wizard\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(cfg, "members", "import", "km-it", str(csv_file)) == 0
    out = capsys.readouterr().out
    assert "imported 3 new members" in out and "2 rows skipped" in out
    assert "line 4" in out and "line 6" in out
    rows = {r["email"]: r for r in listing(cfg, capsys)}
    assert rows["anan@example.org"]["section"] == "ส่วนเครือข่าย"
    assert rows["boss@example.org"]["role"] == "sponsor"
    # Importing again adds nobody twice.
    assert run(cfg, "members", "import", "km-it", str(csv_file)) == 0
    assert "imported 0 new members, 3 already present" in capsys.readouterr().out


def test_bad_input_gives_a_clear_message(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "members", "add", "km-it", "no-at-sign") == 2
    assert "not an e-mail address" in capsys.readouterr().err
    assert run(cfg, "members", "add", "km-xx", "a@example.org") == 2
    assert "unknown community 'km-xx'" in capsys.readouterr().err
    assert run(cfg, "members", "set-role", "km-it", "ghost@example.org", "admin") == 2
    assert "not a member" in capsys.readouterr().err


def test_status_json(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(cfg, "members", "add", "km-it", "a@example.org")
    capsys.readouterr()
    assert run(cfg, "status", "--format", "json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["outbox"] == {"pending": 0, "sent": 0, "failed": 0}
    assert status["members"]["km-it"] == 1
    assert set(status["messages"]) == {"processed", "held", "ignored", "failed"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_names_each_unreachable_server(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = cfg.read_text(encoding="utf-8")
    port = closed_port()
    cfg.write_text(
        text.replace(
            "[[community]]",
            f'[imap]\nhost = "127.0.0.1"\nport = {port}\nssl = false\ntimeout = 3.0\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = 3.0\n\n[[community]]',
            1,
        ),
        encoding="utf-8",
    )
    assert run(cfg, "check") == 1
    out = capsys.readouterr().out
    assert "ok   database" in out and "ok   templates" in out and "ok   rules" in out
    assert "FAIL imap" in out and f"127.0.0.1:{port}" in out
    assert "FAIL smtp" in out


def test_check_passes_offline_on_defaults(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cfg, "check") == 0
    assert "checks passed" in capsys.readouterr().out


def test_check_says_which_roles_mail_waits_for(
    cfg: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    cfg.write_text(cfg.read_text(encoding="utf-8") + "scribe_review = true\n", encoding="utf-8")  # km-net
    assert run(cfg, "members", "add", "km-it", "fac@example.org", "--role", "facilitator") == 0
    assert run(cfg, "members", "add", "km-it", "boss@example.org", "--role", "sponsor") == 0
    assert run(cfg, "members", "add", "km-net", "m@example.org") == 0
    capsys.readouterr()
    assert run(cfg, "check", "--offline") == 0  # advice: a community without roles yet is no failure
    out = capsys.readouterr().out
    assert "ok   roles (km-it)   2 members: 1 facilitator, 0 scribes, 1 sponsor\n" in out
    net = next(line for line in out.splitlines() if "roles (km-net)" in line)
    assert "no facilitator: held posts wait until they expire" in net
    assert "nobody receives the weekly summary" in net
    assert "scribe_review is on but nobody is a scribe: entries stay drafts" in net
    # `run` says the same at start, where an operator watching the log sees it.
    with caplog.at_level(logging.WARNING, logger="mailbot"):
        assert run(cfg, "run", "--once") == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "km-net: no facilitator: held posts wait until they expire (mailbot check)" in warned
    assert not any(w.startswith("km-it:") for w in warned)


def test_config_error_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[smtp]\nport = 'x'\n", encoding="utf-8")
    assert main(["--config", str(bad), "status"]) == 2
    assert "configuration error" in capsys.readouterr().err


def test_rules_lists_the_chain_in_order_and_the_predicates(cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(cfg, "rules", "--format", "json") == 0
    rules = json.loads(capsys.readouterr().out)
    assert [r["order"] for r in rules] == list(range(1, len(rules) + 1))
    assert rules[0]["rule"] == "loop-marker" and rules[-1]["rule"] == "post"
    by_name = {r["rule"]: r for r in rules}
    assert by_name["to-bounces-address"]["tests"] == 'to-address-role(role="bounces")'
    assert by_name["post-rate-limit"]["kind"] == "held"
    assert run(cfg, "rules", "--predicates", "--format", "json") == 0
    predicates = {p["predicate"]: p for p in json.loads(capsys.readouterr().out)}
    # Optional parameters are shown in brackets: a rule may set them, else a default applies.
    assert predicates["sender-over-post-rate"]["parameters"] == "[per_minute (integer)], [per_hour (integer)]"
    assert predicates["subject-matches"]["parameters"] == "patterns (list)"


def test_output_cut_short_by_the_reader_ends_quietly(tmp_path: Path) -> None:
    # `mailbot rules --predicates | head -1`: the reader closes the pipe; no traceback for the user.
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "rules", "--predicates"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "MAILBOT_PATHS__DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command writes anything: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err

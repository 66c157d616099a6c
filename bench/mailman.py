"""GNU Mailman 3 beside mailbot (case 7, `--with-mailman`): installs Mailman core from PyPI into its own
venv (bench/.mailman/venv, never a project dependency), runs its runners on SQLite against the bench sink
and measures the same workload as mailbot: N posts over LMTP to a list of M members.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import setup
from bench.context import Bench
from bench.corpus import message
from bench.measure import Figure, FirstSeen, rss_mib
from bench.servers import REPO, free_port

HOME = REPO / "bench" / ".mailman"  # git-ignored
VENV = HOME / "venv"
VAR = HOME / "var"
CFG = VAR / "mailman.cfg"
DOMAIN = "example.org"
# One smtp.log line per delivered message (bulk delivery: one per chunk of up to max_recipients).
SMTP_LINE = re.compile(rb"smtp to (\S+) for (\d+) recips")
REFUSED_LINE = re.compile(rb"post to (\S+) from .*, (\d+) failures")


@dataclass
class Result:
    """Mailman's figures for one (posts, members) workload, one value per run."""

    rate: Figure = field(default_factory=Figure)  # posts/s, first injection to last copy logged delivered
    cpu_ms: Figure = field(default_factory=Figure)  # CPU ms per post, all Mailman processes
    first_s: Figure = field(default_factory=Figure)  # first injection to first delivery


@dataclass
class Run:
    version: str = ""
    results: dict[tuple[int, int], Result] = field(default_factory=dict)
    start_to_first_s: float | None = None  # `mailman start` to the first copy delivered
    rss_mib: float = 0.0  # sum of VmRSS over its processes, after the workloads
    pss_mib: float = 0.0  # the same with shared pages divided among the processes sharing them
    processes: int = 0


def list_address(members: int) -> str:
    return f"peer{members}@{DOMAIN}"


def interpreter() -> str:
    """The Python executable the bench (and so mailbot, its floors and limits) runs on, outside any venv."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def venv_base(venv: Path) -> str | None:
    """The interpreter `venv` was made from (its pyvenv.cfg), or None."""
    try:
        cfg = (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"(?m)^executable\s*=\s*(.+?)\s*$", cfg)
    return os.path.realpath(found[1]) if found else None


def install() -> str:
    """Create the venv and `pip install mailman` once; the installed version."""
    python = VENV / "bin" / "python"
    # The interpreter mailbot runs on, in a venv of its own (Mailman's pins must not touch mailbot's):
    # two builds of one Python version differ in speed (this VM's Debian python3, built with PGO and
    # LTO, ran mailbot's peer workload 12% faster than pyenv's plain build; BENCHMARKS.md, fourteenth
    # pass), and the ratio is to compare the programs, not the interpreters.
    base = interpreter()
    if not (VENV / "bin" / "mailman").exists() or venv_base(VENV) != base:
        HOME.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "mailman"], check=True)
    out = subprocess.run([str(python), "-c", "import mailman.version as v; print(v.VERSION)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def write_config(sink_port: int, lmtp_port: int, rest_port: int) -> None:
    if VAR.exists():
        shutil.rmtree(VAR)  # every run starts from an empty database and empty queues
    VAR.mkdir(parents=True)
    CFG.write_text(
        f"""[mailman]
layout: bench
site_owner: owner@{DOMAIN}

[paths.bench]
var_dir: {VAR}

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///$DATA_DIR/mailman.db

[mta]
incoming: mailman.mta.null.NullMTA
outgoing: mailman.mta.deliver.deliver
smtp_host: 127.0.0.1
smtp_port: {sink_port}
lmtp_host: 127.0.0.1
lmtp_port: {lmtp_port}

[webservice]
hostname: 127.0.0.1
port: {rest_port}

[archiver.mhonarc]
enable: no

[archiver.mail_archive]
enable: no

[archiver.prototype]
enable: no
""",
        encoding="utf-8",
    )


# Run inside Mailman's venv: lists and members are created through its own model, like `mailman create`
# and `addmembers`, but with no welcome or admin mail (that would reach the sink and be counted).
SETUP_SCRIPT = """
import sys
from mailman.core.initialize import initialize
initialize(sys.argv[1])
from zope.component import getUtility
from mailman.app.lifecycle import create_list
from mailman.config import config
from mailman.interfaces.action import Action
from mailman.interfaces.archiver import ArchivePolicy
from mailman.interfaces.domain import IDomainManager
from mailman.interfaces.mailinglist import Personalization
from mailman.interfaces.member import MemberRole
from mailman.interfaces.usermanager import IUserManager
from mailman.utilities.datetime import now

domain = sys.argv[2]
if getUtility(IDomainManager).get(domain) is None:
    getUtility(IDomainManager).add(domain)
users = getUtility(IUserManager)
for spec in sys.argv[3:]:
    name, members = spec.split(":")
    mlist = create_list(name + "@" + domain)
    mlist.default_member_action = Action.accept
    mlist.send_welcome_message = False
    mlist.admin_notify_mchanges = False
    mlist.filter_content = False
    mlist.digests_enabled = False
    mlist.archive_policy = ArchivePolicy.never
    mlist.personalize = Personalization.none
    mlist.max_message_size = 0
    for i in range(int(members)):
        email = "member%06d@example.org" % i
        address = users.get_address(email) or users.create_address(email)
        address.verified_on = now()
        member = mlist.subscribe(address, MemberRole.member)
        # mailbot does not send a post back to its author; neither does Mailman here.
        member.preferences.receive_own_postings = False
config.db.commit()
"""


def mailman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # The bench may run as root (containers); Mailman refuses that unless told.
    root = ["--run-as-root"] if os.geteuid() == 0 else []
    # Output to a file, not a pipe: `start` forks the master, which would hold a pipe open for good.
    out = VAR / "cli.out"
    with out.open("w+") as f:
        done = subprocess.run([str(VENV / "bin" / "mailman"), *root, "-C", str(CFG), *args],
                              stdout=f, stderr=subprocess.STDOUT, text=True, timeout=timeout, cwd=VAR)  # fmt: skip
    return subprocess.CompletedProcess(done.args, done.returncode, out.read_text(errors="replace"), "")


def descendants(root: int) -> list[int]:
    """root and every process below it (the master's runners, gunicorn's workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def master_pid() -> int | None:
    path = VAR / "master.pid"
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class SmtpLog:
    """Copies delivered per list, read incrementally from Mailman's logs/smtp.log."""

    def __init__(self) -> None:
        self.path = VAR / "logs" / "smtp.log"
        self.offset = 0
        self.delivered: dict[str, int] = {}

    def poll(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += end
        for line in chunk[:end].splitlines():
            if m := SMTP_LINE.search(line):
                name = m.group(1).decode()
                self.delivered[name] = self.delivered.get(name, 0) + int(m.group(2))
            elif m := REFUSED_LINE.search(line):
                name = m.group(1).decode()
                self.delivered[name] = self.delivered.get(name, 0) - int(m.group(2))


def tail(name: str, chars: int = 800) -> str:
    try:
        return (VAR / "logs" / name).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with smtplib.LMTP("127.0.0.1", port, timeout=5) as lmtp:
                lmtp.noop()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"Mailman's LMTP runner did not listen on 127.0.0.1:{port} in {timeout:.0f} s: "
                       f"{tail('mailman.log')}")  # fmt: skip


def workload_once(log: SmtpLog, lmtp_port: int, posts: int, members: int,
                  pids: list[int]) -> tuple[float, float, float, float]:  # fmt: skip
    """(posts/s, CPU ms per post, seconds to first delivery, monotonic time of first delivery)."""
    address = list_address(members)
    # The very messages mailbot gets (peer.py, seed 7). smtplib sends bytes as they are: SMTP wants CRLF, and aiosmtpd refuses a bare-LF "line" of 3 KB.
    raws = [message(i, setup.member_email(i % members), address, seed=7).replace(b"\n", b"\r\n")
            for i in range(posts)]  # fmt: skip
    want = posts * (members - 1)
    log.poll()
    before = log.delivered.get(address, 0)
    cpu0 = cpu_seconds(pids)

    def delivered() -> bool:
        log.poll()
        return log.delivered.get(address, 0) > before

    # Watched while the posts go in (the log is read only by the watcher until it stops).
    watcher = FirstSeen(delivered).start()
    t0 = time.monotonic()
    with smtplib.LMTP("127.0.0.1", lmtp_port, timeout=60) as lmtp:
        for raw in raws:
            lmtp.sendmail(setup.member_email(0), [address], raw)
    first = watcher.stop() or 0.0
    deadline = t0 + max(120.0, posts * members / 200)
    done = 0
    while time.monotonic() < deadline:
        log.poll()
        done = log.delivered.get(address, 0) - before
        if done and not first:
            first = time.monotonic()
        if done >= want:
            break
        time.sleep(0.02)
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(pids) - cpu0
    if done < want:
        raise RuntimeError(f"Mailman delivered {done} of {want} copies in {elapsed:.0f} s; vette.log: "
                           f"{tail('vette.log', 400)} error.log: {tail('error.log', 400)}")  # fmt: skip
    return posts / elapsed, cpu * 1000 / posts, first - t0, first


def stop(pids: list[int]) -> None:
    """`mailman stop`, then SIGKILL whatever of its processes is still there (never any other process)."""
    mine = set(pids)
    master = master_pid()
    if master is not None:
        mine.update(descendants(master))
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        mailman("stop", timeout=60)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in mine):
        time.sleep(0.1)
    for pid in sorted(mine):
        with contextlib.suppress(OSError):
            # Only Mailman's own processes: a recycled pid would not have its venv in the command line.
            if str(VENV).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def measure(bench: Bench, workloads: list[tuple[int, int]]) -> Run:
    out = Run(version=install())
    sink_port = bench.servers.sink.port
    lmtp_port, rest_port = free_port(), free_port()
    write_config(sink_port, lmtp_port, rest_port)
    specs = [f"peer{m}:{m}" for m in sorted({m for _, m in workloads})]
    made = subprocess.run([str(VENV / "bin" / "python"), "-c", SETUP_SCRIPT, str(CFG), DOMAIN, *specs],
                          capture_output=True, text=True, timeout=600, cwd=VAR)  # fmt: skip
    if made.returncode:
        raise RuntimeError(f"Mailman list setup failed: {made.stderr[-800:]}")
    pids: list[int] = []
    try:
        t_start = time.monotonic()
        started = mailman("start", "--force")
        if started.returncode:
            raise RuntimeError(f"mailman start failed: {started.stdout[-800:]}")
        wait_port(lmtp_port, 120)
        master = master_pid()
        if master is None:
            raise RuntimeError(f"mailman start: no master.pid: {tail('mailman.log')}")
        pids = descendants(master)
        log = SmtpLog()
        for posts, members in workloads:
            result = out.results.setdefault((posts, members), Result())
            for _ in range(bench.runs):
                rate, cpu, first_s, first_at = workload_once(log, lmtp_port, posts, members, pids)
                if out.start_to_first_s is None:
                    out.start_to_first_s = first_at - t_start
                result.rate.add(rate)
                result.cpu_ms.add(cpu)
                result.first_s.add(first_s)
                print(f"  mailman {out.version}: {posts} posts -> {members} members: {rate:.3g} posts/s, "
                      f"{cpu:.0f} CPU ms/post, first delivery {first_s:.2f} s", flush=True)  # fmt: skip
        live = [p for p in descendants(master) if Path(f"/proc/{p}").exists()]
        pids = sorted(set(pids) | set(live))
        out.processes = len(live)
        out.rss_mib = sum(rss_mib(p) for p in live if Path(f"/proc/{p}").exists())
        out.pss_mib = sum(pss_mib(p) for p in live)
    finally:
        stop(pids)
    return out


def run(bench: Bench, workloads: list[tuple[int, int]]) -> Run | None:
    """Mailman 3's figures for each (posts, members) workload; None (reason recorded) when it could not run."""
    try:
        return measure(bench, workloads)
    except Exception as exc:  # noqa: BLE001 - mailbot's own figures must still be reported
        bench.report.skipped["peer (mailman 3)"] = f"failed: {type(exc).__name__}: {exc}"[:600]
        return None

"""Fuzz parse + classify + composition for a fixed time budget, seeded with the mail corpus.

    .venv/bin/python scripts/fuzz.py --seconds 300 [--seed 1]

Hypothesis mutates corpus messages (byte flips, splices, truncation, header duplication); any input
that makes tests/test_fuzz_regressions.exercise raise is saved to tests/data/fuzz/ and becomes a
kept test case. Exit status 1 when a crash was found.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.corpus_files import iter_corpus_raw  # noqa: E402
from tests.test_fuzz_regressions import FUZZ_DIR, exercise  # noqa: E402


def mutate(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    seed = st.sampled_from(seeds)

    @st.composite
    def one(draw: st.DrawFn) -> bytes:
        raw = bytearray(draw(seed))
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "splice", "cut", "dup-header", "insert"]))
            if not raw:
                break
            at = draw(st.integers(0, len(raw) - 1))
            if op == "flip":
                raw[at] = draw(st.integers(0, 255))
            elif op == "splice":
                other = draw(seed)
                start = draw(st.integers(0, max(0, len(other) - 1)))
                raw[at:at] = other[start : start + draw(st.integers(1, 400))]
            elif op == "cut":
                del raw[at : at + draw(st.integers(1, 2000))]
            elif op == "dup-header":
                end = raw.find(b"\n", at)
                line = raw[raw.rfind(b"\n", 0, at) + 1 : end + 1 if end >= 0 else len(raw)]
                raw[at:at] = line * draw(st.integers(1, 50))
            else:
                raw[at:at] = draw(st.sampled_from([b"\r\n", b"=?utf-8?q?=0D=0AX-Injected:_1?=", b"\x00",
                                                   b"--", b"boundary=\"", b"=?tis-620?b?", b"\xe0\xb8"]))  # fmt: skip
        return bytes(raw)

    return one()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seed-bytes", type=int, default=200_000, help="skip larger corpus files")
    args = ap.parse_args()
    seeds = [raw for _, raw in iter_corpus_raw() if len(raw) <= args.max_seed_bytes]
    print(f"{len(seeds)} seed messages; budget {args.seconds:.0f}s", flush=True)
    deadline = time.monotonic() + args.seconds
    found: list[Path] = []
    signatures: set[str] = set()
    runs = 0

    @settings(max_examples=200, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(mutate(seeds))
    def target(raw: bytes) -> None:
        nonlocal runs
        runs += 1
        try:
            exercise(raw)
        except Exception as exc:
            # One kept file per distinct failure (type + innermost mailbot frame), not per input.
            tb = traceback.extract_tb(exc.__traceback__)
            where = next((f"{fr.filename}:{fr.lineno}" for fr in reversed(tb) if "/mailbot/" in fr.filename), "")
            key = f"{type(exc).__name__}@{where}"
            if key not in signatures:
                signatures.add(key)
                path = FUZZ_DIR / f"crash-{hashlib.sha256(raw).hexdigest()[:12]}.eml"
                path.write_bytes(raw)
                found.append(path)
                print(f"new failure {key}: {path.name}", flush=True)
            raise

    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        try:
            target()
        except Exception as exc:  # recorded above; keep fuzzing for other crashes
            print(f"round {rounds}: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
    print(f"{runs} inputs in {args.seconds:.0f}s, {len(found)} crashing inputs kept", flush=True)
    for p in found:
        print(f"  {p.relative_to(REPO)}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""The mutation campaign: realistic bugs, each a patch to a copy of the library, must each make
at least one of the ten correctness suites fail.

    python3 tests/mutants/run_mutants.py [--work DIR] [--clean-only | --no-clean]
                                         [--pick-from REV --count N] [NAME ...]

For every mutant (tests/mutants/*.patch, or the NAMEs given), the runner copies the tracked
source tree once into DIR/src, applies the patch there (never to the checkout: the library that
is installed carries no mutation switch), builds the ten suite binaries from that copy in
DIR/build, runs them and takes the patch back out. The suites the patch names on its `Expect:`
line run first; a mutant is killed by the first suite that fails (a failed assertion, a crash,
or a run past the time limit) and the rest are not run. A mutant no suite kills survives.

Before the mutants, the unpatched copy runs all ten suites: the clean library must pass them all
(suite 08 alone runs 10k engine cycles under the invariants), or the campaign stops there.

A patch that no longer applies exactly (no fuzz, no offset beyond what `patch` finds by context)
fails the runner at once: a patch is never skipped.

--pick-from REV --count N runs N mutants chosen from the commit id REV (CI runs three per commit,
so that over many commits every patch keeps applying and keeps being killed). --expected-only
runs only the suites a patch names (CI's time): a mutant they do not kill fails the run.

Writes DIR/mutants.json and DIR/mutants.md (the table of docs/mutants.md). Exit status: 0 when the
clean library passed and every mutant run was killed; 1 when a mutant survived or the clean
library failed; 2 when a patch does not apply or the tree cannot be built.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATCHES = Path(__file__).resolve().parent
SUITES = [
    "suite_01_replay", "suite_02_integrity", "suite_03_graph", "suite_04_purity", "suite_05_throughput",
    "suite_06_tick_latency", "suite_07_memory", "suite_08_invariants", "suite_09_stability", "suite_10_provenance",
]
SUITE_TIMEOUT_S = 300


class Mutant:
    def __init__(self, path: Path):
        self.path = path
        self.name = path.stem
        self.text = path.read_text()
        fields = {}
        for line in self.text.splitlines():
            if line.startswith(("diff ", "--- ", "Index: ")):
                break
            m = re.match(r"^(Mutant|Class|Expect|Bug):\s*(.*)$", line)
            if m:
                fields[m.group(1)] = m.group(2).strip()
        self.bug_class = fields.get("Class", "")
        self.bug = fields.get("Bug", "")
        self.expect = [s for s in fields.get("Expect", "").split() if s in SUITES]
        missing = [k for k in ("Class", "Bug", "Expect") if k not in fields]
        if missing or not self.expect:
            raise SystemExit(f"mutants: {path.name}: header needs Class:, Bug: and Expect: <suite targets> ({missing or 'no known suite'})")


def run(cmd, cwd=None, timeout=None, env=None):
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def copy_tree(work: Path) -> Path:
    src = work / "src"
    if src.exists():
        shutil.rmtree(src)
    files = run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for f in files:
        if not f:
            continue
        s, d = ROOT / f, src / f
        if s.is_file():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, d)
    return src


def patch(src: Path, mutant: Mutant, reverse=False):
    args = ["patch", "-p1", "--batch", "--forward", "--fuzz=0", "--no-backup-if-mismatch", "-d", str(src)]
    if reverse:
        args = ["patch", "-p1", "--batch", "--reverse", "--fuzz=0", "--no-backup-if-mismatch", "-d", str(src)]
    dry = subprocess.run(args + ["--dry-run"], input=mutant.text, capture_output=True, text=True)
    if dry.returncode != 0:
        raise PatchError(f"{mutant.path.name} does not apply{' in reverse' if reverse else ''}:\n{dry.stdout}{dry.stderr}")
    done = subprocess.run(args, input=mutant.text, capture_output=True, text=True)
    if done.returncode != 0:
        raise PatchError(f"{mutant.path.name}: patch failed after a clean dry run:\n{done.stdout}{done.stderr}")


class PatchError(Exception):
    pass


def configure(src: Path, build: Path):
    r = run(["cmake", "-S", str(src), "-B", str(build), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG", "-DTICKFLOW_BUILD_BENCH=OFF", "-DTICKFLOW_BUILD_EXAMPLES=OFF"])
    if r.returncode != 0:
        raise SystemExit(f"mutants: configure failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")


def build(build_dir: Path, targets):
    """Builds the suite targets together (one translation unit each: two build in parallel)."""
    return run(["cmake", "--build", str(build_dir), "--target", *targets, "--", f"-j{os.cpu_count() or 2}"])


def first_failure(output: str) -> str:
    """The first failed assertion of a Catch2 run: file:line, then the expression."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("FAILED:"):
            where = line.rstrip()[: -len("FAILED:")].rstrip().rstrip(":")
            where = re.sub(r"^.*/tests/", "tests/", where)
            expr = ""
            for nxt in lines[i + 1 : i + 6]:
                if nxt.strip():
                    expr = nxt.strip()
                    break
            return f"{where}: {expr}"
    for line in lines:
        if "fatal error condition" in line or "SIGSEGV" in line or "SIGABRT" in line:
            return line.strip()
    return ""


def run_suite(build_dir: Path, suite: str):
    """Runs one built suite: (outcome, detail, seconds). outcome: pass, fail, crash, timeout."""
    exe = build_dir / "tests" / suite
    t0 = time.monotonic()
    try:
        r = run([str(exe), "--abort", "--warn", "NoTests"], cwd=build_dir / "tests", timeout=SUITE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timeout", f"no result after {SUITE_TIMEOUT_S} s", time.monotonic() - t0
    took = time.monotonic() - t0
    if r.returncode == 0:
        return "pass", "", took
    detail = first_failure(r.stdout + r.stderr)
    if r.returncode < 0:
        return "crash", detail or f"signal {-r.returncode}", took
    return "fail", detail or f"exit {r.returncode}", took


def pick(mutants, rev: str, count: int):
    h = int(hashlib.sha256(rev.encode()).hexdigest(), 16)
    chosen = []
    pool = list(mutants)
    for _ in range(min(count, len(pool))):
        chosen.append(pool.pop(h % len(pool)))
        h //= 1009
    return chosen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=str(ROOT / "build" / "mutants"))
    ap.add_argument("--clean-only", action="store_true")
    ap.add_argument("--no-clean", action="store_true", help="skip the clean run of the ten suites")
    ap.add_argument("--pick-from", metavar="REV")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--expected-only", action="store_true",
                    help="run only the suites each patch expects to kill it (CI): a mutant they do not kill fails the run")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()

    mutants = [Mutant(p) for p in sorted(PATCHES.glob("*.patch"))]
    if a.names:
        known = {m.name: m for m in mutants}
        unknown = [n for n in a.names if n not in known]
        if unknown:
            print(f"mutants: unknown: {' '.join(unknown)}", file=sys.stderr)
            return 2
        mutants = [known[n] for n in a.names]
    elif a.pick_from:
        rev = run(["git", "rev-parse", a.pick_from], cwd=ROOT).stdout.strip() or a.pick_from
        mutants = pick(mutants, rev, a.count)
        print(f"mutants: {len(mutants)} chosen from {rev[:12]}: {' '.join(m.name for m in mutants)}", flush=True)

    work = Path(a.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    src = copy_tree(work)
    build_dir = work / "build"
    # Every patch must apply to this tree, even those not run: a stale patch fails every run.
    for m in [Mutant(p) for p in sorted(PATCHES.glob("*.patch"))]:
        try:
            patch(src, m)
            patch(src, m, reverse=True)
        except PatchError as e:
            print(f"mutants: FAIL: {e}", file=sys.stderr)
            return 2
    configure(src, build_dir)

    results = {"clean": None, "mutants": []}
    status = 0
    if not a.no_clean:
        clean = []
        b = build(build_dir, SUITES)
        if b.returncode != 0:
            print(f"mutants: the clean tree does not build:\n{(b.stdout + b.stderr)[-3000:]}", file=sys.stderr)
            return 2
        for s in SUITES:
            outcome, detail, took = run_suite(build_dir, s)
            clean.append({"suite": s, "outcome": outcome, "detail": detail, "seconds": round(took, 2)})
            print(f"clean  {s:24s} {outcome:7s} {took:6.1f} s {detail}", flush=True)
            if outcome != "pass":
                status = 1
        results["clean"] = clean
        if status != 0:
            print("mutants: the clean library fails a suite: no mutant is judged", file=sys.stderr)
            write(work, results, time.monotonic() - t_start)
            return 1
        if a.clean_only:
            write(work, results, time.monotonic() - t_start)
            return 0

    for m in mutants:
        t0 = time.monotonic()
        try:
            patch(src, m)
        except PatchError as e:
            print(f"mutants: FAIL: {e}", file=sys.stderr)
            return 2
        entry = {"name": m.name, "class": m.bug_class, "bug": m.bug, "killed_by": None, "outcome": None, "detail": "", "tried": []}
        try:
            # The suites the patch expects first, built together; then, only if they all pass,
            # the others.
            groups = [m.expect] if a.expected_only else [m.expect, [s for s in SUITES if s not in m.expect]]
            for group in groups:
                b = build(build_dir, group)
                if b.returncode != 0:
                    err = [l for l in (b.stdout + b.stderr).splitlines() if "error" in l]
                    entry.update(killed_by=None, outcome="build", detail="the mutant does not compile: " + (err[0][:200] if err else ""))
                    break
                for s in group:
                    outcome, detail, took = run_suite(build_dir, s)
                    entry["tried"].append(s)
                    if outcome != "pass":
                        entry.update(killed_by=s, outcome=outcome, detail=detail)
                        break
                if entry["killed_by"]:
                    break
        finally:
            patch(src, m, reverse=True)
        entry["seconds"] = round(time.monotonic() - t0, 1)
        verdict = (f"killed by {entry['killed_by']} ({entry['outcome']})" if entry["killed_by"]
                   else "DOES NOT BUILD" if entry["outcome"] == "build" else "SURVIVED")
        print(f"mutant {m.name:40s} {verdict:45s} {entry['seconds']:6.1f} s  {entry['detail']}", flush=True)
        if not entry["killed_by"]:
            status = 1  # a survivor, or a mutant that does not build (it tests nothing)
        results["mutants"].append(entry)
    write(work, results, time.monotonic() - t_start)
    killed = sum(1 for e in results["mutants"] if e["killed_by"])
    print(f"mutants: {killed} of {len(results['mutants'])} killed; wall time {time.monotonic() - t_start:.0f} s", flush=True)
    return status


def write(work: Path, results, seconds):
    results["seconds"] = round(seconds, 1)
    (work / "mutants.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = ["| mutant | bug class | bug | caught by | how |", "|---|---|---|---|---|"]
    for e in results["mutants"]:
        how = e["detail"].replace("|", "\\|")
        rows.append(f"| `{e['name']}` | {e['class']} | {e['bug']} | {e['killed_by'] or '**survived**'} | {e['outcome']}: `{how}` |")
    (work / "mutants.md").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    sys.exit(main())

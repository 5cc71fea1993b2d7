#!/usr/bin/env python3
"""Gathers one bench run into results.json and checks it against docs/results-schema.json.

    results.py --dir OUT_DIR --binaries NAME[,NAME...] [--source-dir DIR] [--compiler TEXT]
               [--flags TEXT] [--out FILE]
    results.py --validate FILE

For each binary, OUT_DIR holds what cmake/run_benchmarks.cmake left: NAME.out (its console
output), NAME.rc (its exit code) and NAME.json (Google Benchmark's JSON). Budget lines and
information lines are the ones bench/support/harness.hpp prints:

    budget <suite>.<metric> value=<number|nan> unit=<unit> goal=<op><number> PASS|FAIL|SKIP
    info <suite>.<metric> value=<number> unit=<unit>

The machine's facts come from /proc, uname, os-release and dpkg-query (rival versions). The
file is validated with python3-jsonschema (Draft 2020-12) before it is written; a violation
stops the script with its path in the document and the rule it broke.
"""
import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "docs", "results-schema.json")

BUDGET = re.compile(r"^budget (\S+) value=(\S+) unit=(\S+) goal=(>=|<=|<)(\S+) (PASS|FAIL|SKIP)$")
INFO = re.compile(r"^info (\S+) value=(\S+) unit=(\S+)$")
PHASES = ["apply", "propagate", "graph", "gc", "log"]
# Debian packages of the rivals the bench binaries compile in when present (bench/CMakeLists.txt).
RIVALS = {
    "boost": "libboost-dev",
    "boost_graph": "libboost-graph-dev",
    "moodycamel_concurrentqueue": "libconcurrentqueue-dev",
    "moodycamel_readerwriterqueue": "libreaderwriterqueue-dev",
    "onetbb": "libtbb-dev",
    "abseil": "libabsl-dev",
    "google_benchmark": "libbenchmark-dev",
}
HIST_BOUNDS_MS = [0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 64]


class Invalid(Exception):
    pass


def load_schema():
    with open(SCHEMA) as f:
        return json.load(f)


def validate(doc, schema=None):
    """Raises Invalid naming the first violation (by position in the document)."""
    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        e = errors[0]
        where = "/" + "/".join(str(p) for p in e.absolute_path)
        raise Invalid(f"{where}: {e.message} (schema rule {'/'.join(str(p) for p in e.absolute_schema_path)})")


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def machine_kind(cpu_model, cores, memory_bytes):
    slug = re.sub(r"[^a-z0-9]+", "-", cpu_model.lower()).strip("-")
    # Memory as sized (a 24 GiB machine shows 23.5 GiB to the kernel): to the nearest 4 GiB.
    gib = memory_bytes / 2**30
    gib = round(gib / 4) * 4 if gib >= 6 else round(gib)
    return f"{slug}-{cores}cpu-{gib}gib"


def machine(compiler, flags):
    cpuinfo = read("/proc/cpuinfo", "")
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    cpu_model = m.group(1).strip() if m else platform.processor() or "unknown"
    cores = os.cpu_count() or 1
    meminfo = read("/proc/meminfo", "")
    m = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    memory_bytes = int(m.group(1)) * 1024 if m else 1
    osr = read("/etc/os-release", "")
    m = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', osr, re.M)
    rivals = {}
    for name, pkg in RIVALS.items():
        try:
            out = subprocess.run(["dpkg-query", "-W", "-f=${Status}|${Version}", pkg], capture_output=True, text=True)
            status, _, version = out.stdout.partition("|")
            rivals[name] = version if out.returncode == 0 and status == "install ok installed" else None
        except OSError:
            rivals[name] = None
    return {
        "kind": machine_kind(cpu_model, cores, memory_bytes),
        "cpu_model": cpu_model,
        "cores": cores,
        "memory_bytes": memory_bytes,
        "kernel": platform.release(),
        "os": m.group(1) if m else platform.system(),
        "compiler": compiler or "unknown",
        "flags": flags or "",
        "rivals": rivals,
    }


def git_facts(source_dir):
    try:
        rev = subprocess.run(["git", "-C", source_dir, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", source_dir, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               check=True).stdout.strip() != ""
        return {"revision": rev, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"revision": "unknown", "dirty": False}


def parse_lines(text):
    budgets, info, comments = [], [], []
    last_comment = None
    for line in text.splitlines():
        b = BUDGET.match(line)
        if b:
            metric, value, unit, op, goal, status = b.groups()
            entry = {"metric": metric, "value": None if value == "nan" else float(value), "unit": unit,
                     "goal": {"op": op, "value": float(goal)}, "status": status}
            if status == "SKIP" and last_comment and last_comment.startswith(f"# {metric}: "):
                entry["why"] = last_comment[len(f"# {metric}: "):]
            budgets.append(entry)
            continue
        i = INFO.match(line)
        if i:
            info.append({"metric": i.group(1), "value": float(i.group(2)), "unit": i.group(3)})
            continue
        if line.startswith("# "):
            comments.append(line[2:])
            last_comment = line
    # "# <metric> placement: <where>" (bench_queue): where the threads ran when it was measured.
    for c in comments:
        m = re.match(r"^(\S+) placement: (\S+)$", c)
        if m:
            for b in budgets:
                if b["metric"] == m.group(1):
                    b["placement"] = m.group(2)
    return budgets, info, comments


def medians(gb):
    """Per case: the median aggregate (or the single run), and every repetition's real_time."""
    runs = {}
    for b in gb.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        entry = runs.setdefault(name, {"samples": [], "median": None, "single": None})
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                entry["median"] = b
        else:
            if b.get("error_occurred"):
                continue
            entry["samples"].append(b["real_time"])
            entry["single"] = entry["single"] or b
    out = []
    for name, e in runs.items():
        src = e["median"] or e["single"]
        if src is None:
            continue
        row = {"name": name, "real_time": src["real_time"], "time_unit": src.get("time_unit", "ns"),
               "repetitions": max(1, len(e["samples"]) or src.get("repetitions", 1))}
        if "cpu_time" in src:
            row["cpu_time"] = src["cpu_time"]
        for k in ("items_per_second", "bytes_per_second"):
            if k in src:
                row[k] = src[k]
        if e["samples"]:
            row["samples"] = e["samples"]
        out.append(row)
    return out


def histogram(values_ms):
    counts = [0] * (len(HIST_BOUNDS_MS) + 1)
    for v in values_ms:
        i = 0
        while i < len(HIST_BOUNDS_MS) and v > HIST_BOUNDS_MS[i]:
            i += 1
        counts[i] += 1
    return {"bounds_ms": HIST_BOUNDS_MS, "counts": counts}


def tick_series(raw):
    records = []
    for r in raw:
        records.append({
            "tick": r["tick"], "total_ns": r["total_ns"], "phase_ns": {p: r[p + "_ns"] for p in PHASES},
            "deltas": r["deltas"], "recomputed": r.get("recomputed", 0), "changed": r.get("changed", 0),
            "edits": r.get("edits", 0), "overran": bool(r["overran"]),
        })
    hist = {p: histogram([r["phase_ns"][p] / 1e6 for r in records]) for p in PHASES}
    hist["total"] = histogram([r["total_ns"] / 1e6 for r in records])
    return {"records": records, "phase_histograms": hist}


def gather(out_dir, binaries, source_dir, compiler, flags):
    doc = {
        "schema": "tickflow.results/2",
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git_facts(source_dir),
        "machine": machine(compiler, flags),
        "binaries": [],
        "summary": {"pass": 0, "fail": 0, "skip": 0},
    }
    for name in binaries:
        text = read(os.path.join(out_dir, name + ".out"))
        if text is None:
            raise Invalid(f"{name}: no {name}.out in {out_dir} (did the binary run?)")
        rc = int((read(os.path.join(out_dir, name + ".rc"), "0").strip() or "0"))
        budgets, info, comments = parse_lines(text)
        gb_text = read(os.path.join(out_dir, name + ".json"))
        gb = json.loads(gb_text) if gb_text else {}
        context = dict(gb.get("context", {}))
        custom = {k: context.pop(k) for k in list(context) if k.startswith("tickflow.")}
        m = re.match(r"^benchmark_(\d{2})_", name)
        entry = {"name": name, "suite": m.group(1) if m else None, "exit_code": rc, "budgets": budgets, "info": info,
                 "comments": comments, "benchmarks": medians(gb), "context": context}
        doc["binaries"].append(entry)
        for b in budgets:
            doc["summary"][b["status"].lower()] += 1
        for key, series in (("tickflow.ticks_wlocal", "W-local"), ("tickflow.ticks_w", "W")):
            if key in custom:
                raw = json.loads(custom[key])
                if raw:
                    doc.setdefault("ticks", {})[series] = tick_series(raw)
        if "tickflow.churn_series" in custom:
            doc.setdefault("memory", {})["churn"] = json.loads(custom["tickflow.churn_series"])
        if "tickflow.memory_footprint" in custom:
            doc.setdefault("memory", {})["footprint"] = json.loads(custom["tickflow.memory_footprint"])
    return doc


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--validate", metavar="FILE", help="only check FILE against the schema")
    ap.add_argument("--dir")
    ap.add_argument("--binaries")
    ap.add_argument("--source-dir", default=os.path.join(HERE, ".."))
    ap.add_argument("--compiler", default="")
    ap.add_argument("--flags", default="")
    ap.add_argument("--out")
    args = ap.parse_args(argv[1:])
    if args.validate:
        try:
            with open(args.validate) as f:
                validate(json.load(f))
        except (OSError, json.JSONDecodeError, Invalid) as err:
            print(f"results.py: {args.validate}: {err}", file=sys.stderr)
            return 1
        print(f"{args.validate}: valid ({load_schema()['$id']})")
        return 0
    if not args.dir or not args.binaries:
        ap.error("--dir and --binaries are required (or --validate FILE)")
    try:
        doc = gather(args.dir, [b for b in re.split(r"[,;|]", args.binaries) if b], args.source_dir, args.compiler, args.flags)
        validate(doc)
    except Invalid as err:
        print(f"results.py: {err}", file=sys.stderr)
        return 1
    out = args.out or os.path.join(args.dir, "results.json")
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    s = doc["summary"]
    print(f"results: {out} ({s['pass']} PASS, {s['fail']} FAIL, {s['skip']} SKIP; machine {doc['machine']['kind']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

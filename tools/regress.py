#!/usr/bin/env python3
"""Regression check of a short bench pass against the committed baseline of this machine kind.

    regress.py check --baseline bench/baselines/KIND.json --results DIR/results.json --bin-dir BIN
                     [--args "..."] [--no-rerun]
    regress.py make  --out bench/baselines/KIND.json RESULTS_JSON RESULTS_JSON [...]

`make` builds a baseline from two or more results files of the same machine kind (runs of the
same short pass): per budget its values and status in each run; and per binary the Google
Benchmark JSON of the first run, for compare.py.

`check`:
  * refuses a baseline of another machine kind, saying which kinds they are (exit 2);
  * a budget *fails the check* when it passed in every baseline run, and the new value is worse
    than its goal by more than its noise: the relative spread (max - min) / median of the
    baseline runs' values, at least 2 %. The binary is then run once more (same arguments); the
    check fails only if the second value is also beyond goal and noise (exit 1);
  * every other regression is printed without failing: a budget that still passes but is worse
    than the baseline median by more than its noise, or one that failed in the baseline too; and,
    per binary, Google Benchmark's compare.py (Debian's libbenchmark-tools) over the baseline's
    and this run's JSON, with its two-sided Mann-Whitney U test over the repetitions.
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import results as results_mod  # noqa: E402

COMPARE = "/usr/share/benchmark/compare.py"
MIN_NOISE = 0.02


def worse_by(op, goal, value):
    """How far `value` is on the wrong side of `goal`, as a share of the goal (<= 0: within)."""
    if value is None:
        return None
    if op == ">=":
        return (goal - value) / abs(goal) if goal else -value
    return (value - goal) / abs(goal) if goal else value


def noise_of(values):
    vals = sorted(v for v in values if v is not None)
    if len(vals) < 2:
        return MIN_NOISE
    med = vals[len(vals) // 2]
    return max(MIN_NOISE, (vals[-1] - vals[0]) / abs(med)) if med else MIN_NOISE


def make(out, paths):
    runs = []
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        results_mod.validate(doc)
        runs.append(doc)
    kinds = {d["machine"]["kind"] for d in runs}
    if len(kinds) != 1:
        raise SystemExit(f"regress.py make: results of several machine kinds: {sorted(kinds)}")
    if len(runs) < 2:
        raise SystemExit("regress.py make: a baseline needs two runs or more (the noise is their spread)")
    budgets = {}
    for d in runs:
        for b in d["binaries"]:
            for x in b["budgets"]:
                e = budgets.setdefault(x["metric"], {"binary": b["name"], "unit": x["unit"], "goal": x["goal"], "values": [], "status": []})
                e["values"].append(x["value"])
                e["status"].append(x["status"])
    base = {
        "schema": "tickflow.baseline/1",
        "machine": runs[0]["machine"],
        "revisions": [d["git"]["revision"] for d in runs],
        "generated": [d["generated"] for d in runs],
        "budgets": budgets,
        "google_benchmark": {},
    }
    src_dir = os.path.dirname(os.path.abspath(paths[0]))
    for b in runs[0]["binaries"]:
        gb = os.path.join(src_dir, b["name"] + ".json")
        if os.path.exists(gb):
            with open(gb) as f:
                base["google_benchmark"][b["name"]] = json.load(f)
    with open(out, "w") as f:
        json.dump(base, f, indent=1)
        f.write("\n")
    print(f"baseline: {out} ({len(budgets)} budgets, {len(runs)} runs, machine {runs[0]['machine']['kind']})")


def rerun(bin_dir, binary, args, metric):
    cmd = [os.path.join(bin_dir, binary), "--benchmark_color=false", *shlex.split(args)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    budgets, _, _ = results_mod.parse_lines(r.stdout)
    for b in budgets:
        if b["metric"] == metric:
            return b
    return None


def compare_gb(base_gb, results_dir, binary, work):
    """compare.py over the two JSON files; returns its report lines for cases that moved."""
    new = os.path.join(results_dir, binary + ".json")
    if not os.path.exists(COMPARE) or not os.path.exists(new):
        return [f"  {binary}: compare.py or this run's JSON missing; not compared"]
    old = os.path.join(work, binary + ".baseline.json")
    with open(old, "w") as f:
        json.dump(base_gb, f)
    dump = os.path.join(work, binary + ".compare.json")
    r = subprocess.run([sys.executable, COMPARE, "--no-color", "-d", dump, "benchmarks", old, new], capture_output=True, text=True)
    if r.returncode != 0:
        return [f"  {binary}: compare.py failed: {r.stderr.strip()[-300:]}"]
    lines = []
    with open(dump) as f:
        rows = json.load(f)
    # The U test sits on the repetitions' row, the change of the median on the aggregate's.
    pvalue = {r["name"]: (r.get("utest") or {}).get("time_pvalue") for r in rows if r.get("run_type") != "aggregate"}
    for r in rows:
        if r.get("aggregate_name") != "median" or not r.get("measurements"):
            continue
        base_name = r["name"][: -len("_median")]
        p = pvalue.get(base_name)
        change = r["measurements"][0]["time"]
        if p is not None and p < 0.05 and change > 0.05:
            lines.append(f"  {binary} {base_name}: median real time {change * 100:+.1f}%, U test p = {p:.4f} (slower)")
    return lines


def check(args):
    with open(args.baseline) as f:
        base = json.load(f)
    with open(args.results) as f:
        doc = json.load(f)
    results_mod.validate(doc)
    if base.get("schema") != "tickflow.baseline/1":
        print(f"regress: {args.baseline} is not a tickflow baseline")
        return 2
    kind, bkind = doc["machine"]["kind"], base["machine"]["kind"]
    if kind != bkind:
        print(f"regress: refusing the baseline {args.baseline}: it was measured on machine kind '{bkind}' "
              f"({base['machine']['cpu_model']}, {base['machine']['cores']} CPUs), this run is on '{kind}' "
              f"({doc['machine']['cpu_model']}, {doc['machine']['cores']} CPUs); numbers from one do not bound the other")
        return 2
    print(f"regress: {args.results} against {args.baseline} (machine {kind}; baseline runs at {', '.join(r[:12] for r in base['revisions'])})")
    failures, notes = [], []
    for b in doc["binaries"]:
        for x in b["budgets"]:
            e = base["budgets"].get(x["metric"])
            if e is None:
                notes.append(f"  {x['metric']}: not in the baseline (new budget): {x['value']} {x['status']}")
                continue
            noise = noise_of(e["values"])
            vals = [v for v in e["values"] if v is not None]
            med = sorted(vals)[len(vals) // 2] if vals else None
            passed_before = all(s == "PASS" for s in e["status"])
            beyond = worse_by(x["goal"]["op"], x["goal"]["value"], x["value"])
            if x["status"] == "SKIP":
                if passed_before:
                    notes.append(f"  {x['metric']}: SKIP now, PASS in the baseline")
                continue
            if passed_before and beyond is not None and beyond > noise:
                desc = (f"{x['metric']} = {x['value']:.4g} against goal {x['goal']['op']}{x['goal']['value']:g}: "
                        f"{beyond * 100:.1f}% beyond it, noise {noise * 100:.1f}% (baseline {', '.join(f'{v:.4g}' for v in vals)})")
                if args.no_rerun:
                    failures.append(desc)
                    continue
                print(f"regress: {desc}; running {b['name']} again to confirm")
                again = rerun(args.bin_dir, b["name"], args.args, x["metric"])
                b2 = worse_by(x["goal"]["op"], x["goal"]["value"], again["value"]) if again and again["value"] is not None else None
                if b2 is not None and b2 > noise:
                    failures.append(f"{desc}; again {again['value']:.4g} ({b2 * 100:.1f}% beyond)")
                else:
                    got = "not measured" if again is None or again["value"] is None else f"{again['value']:.4g}"
                    notes.append(f"  {x['metric']}: {x['value']:.4g} beyond goal once, {got} when run again: not confirmed")
                continue
            if med is not None and x["value"] is not None:
                drift = worse_by(x["goal"]["op"], med, x["value"])
                if drift is not None and drift > noise:
                    state = "passed in the baseline" if passed_before else "did not pass in every baseline run"
                    notes.append(f"  {x['metric']}: {x['value']:.4g} ({x['status']}), {drift * 100:.1f}% worse than the baseline median "
                                 f"{med:.4g} (noise {noise * 100:.1f}%; {state})")
    work = os.path.join(os.path.dirname(os.path.abspath(args.results)), "regress")
    os.makedirs(work, exist_ok=True)
    gb_lines = []
    for name, gb in base.get("google_benchmark", {}).items():
        if any(b["name"] == name for b in doc["binaries"]):
            gb_lines += compare_gb(gb, os.path.dirname(os.path.abspath(args.results)), name, work)
    print("regress: other regressions (printed, not failing):")
    for line in notes + gb_lines or ["  none"]:
        print(line)
    if failures:
        print("regress: FAIL: budgets that passed in the baseline are beyond their goal by more than their noise, twice:")
        for f in failures:
            print("  " + f)
        return 1
    print("regress: no confirmed regression of a budget")
    return 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--baseline", required=True)
    c.add_argument("--results", required=True)
    c.add_argument("--bin-dir", default=".")
    c.add_argument("--args", default="")
    c.add_argument("--no-rerun", action="store_true")
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("results", nargs="+")
    args = ap.parse_args(argv[1:])
    try:
        if args.cmd == "make":
            make(args.out, args.results)
            return 0
        return check(args)
    except results_mod.Invalid as err:
        print(f"regress: {err}")
        return 2
    except (OSError, json.JSONDecodeError) as err:
        print(f"regress: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

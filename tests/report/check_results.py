#!/usr/bin/env python3
"""A results file against the schema, and the schema and the report against bad files.

    check_results.py RESULTS_JSON WORK_DIR

RESULTS_JSON (written by a real run) must validate. Then copies broken in each way the schema
forbids must each be refused by tools/results.py --validate, and by tools/report.py, which must
stop with the violation named (its path in the document) and write no page. Last, a copy with a
rival's cases removed must render with that rival marked "not installed", not as a zero bar.
"""
import copy
import json
import os
import subprocess
import sys

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def main(argv):
    src, work = argv[1], argv[2]
    os.makedirs(work, exist_ok=True)
    r = run(os.path.join(TOOLS, "results.py"), "--validate", src)
    if r.returncode != 0:
        print(f"the run's own results file is invalid: {r.stderr}")
        return 1
    print(r.stdout.strip())
    with open(src) as f:
        good = json.load(f)
    b0 = good["binaries"][0]

    def budget(doc):
        return next(b for x in doc["binaries"] for b in x["budgets"])

    breaks = {
        "/machine": lambda d: d.pop("machine"),
        "/schema": lambda d: d.update(schema="tickflow.results/1"),
        "/git/revision": lambda d: d["git"].update(revision="HEAD~1"),
        "/machine/cores": lambda d: d["machine"].update(cores=0),
        "/binaries/0/budgets/0/status": lambda d: budget(d).update(status="OK"),
        "/binaries/0/budgets/0/value": lambda d: budget(d).update(value=None, status="PASS"),
        "/binaries/0/budgets/0/goal/op": lambda d: budget(d).update(goal={"op": "~", "value": 1}),
        "/binaries/0/benchmarks": lambda d: d["binaries"][0].pop("benchmarks"),
        "/summary/fail": lambda d: d["summary"].update(fail=-1),
        "/generated": lambda d: d.update(generated="yesterday"),
    }
    if not b0["budgets"]:
        print("the run's first binary printed no budget line: cannot break one")
        return 1
    for where, brk in breaks.items():
        doc = copy.deepcopy(good)
        brk(doc)
        path = os.path.join(work, "broken.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        v = run(os.path.join(TOOLS, "results.py"), "--validate", path)
        html_out = os.path.join(work, "broken.html")
        if os.path.exists(html_out):
            os.remove(html_out)
        rep = run(os.path.join(TOOLS, "report.py"), path, "--out", html_out)
        # Named: the path of the bad value, or (a missing property) its parent's path and its name.
        parent, leaf = where.rsplit("/", 1)
        named = all(where in e or (f"{parent or '/'}: " in e and f"'{leaf}'" in e) for e in (v.stderr, rep.stderr))
        if v.returncode == 0 or rep.returncode == 0 or os.path.exists(html_out) or not named:
            print(f"a file broken at {where} was not refused with the violation named:\n  validate: {v.stderr.strip()}\n  report: {rep.stderr.strip()}")
            return 1
        print(f"refused, naming {where}: {rep.stderr.strip().splitlines()[-1][:160]}")

    # A rival that is not installed: its cases are absent from the run.
    doc = copy.deepcopy(good)
    queue = next((x for x in doc["binaries"] if x["name"] == "bench_queue"), None)
    if queue is None:
        print("bench_queue did not run: cannot check a missing rival")
        return 1
    queue["benchmarks"] = [c for c in queue["benchmarks"] if "boost_spsc" not in c["name"]]
    doc["machine"]["rivals"]["boost"] = None
    path = os.path.join(work, "no_boost.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    out = os.path.join(work, "no_boost.html")
    rep = run(os.path.join(TOOLS, "report.py"), path, "--out", out)
    if rep.returncode != 0:
        print(f"the report failed on a run without boost: {rep.stderr}")
        return 1
    text = open(out).read()
    rivals = text[text.index('id="chart-rivals"'):text.index("</figure>", text.index('id="chart-rivals"'))]
    if "not installed" not in rivals or "boost not installed" not in text:
        print("a missing rival is not marked 'not installed'")
        return 1
    print("a missing rival is drawn as 'not installed'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

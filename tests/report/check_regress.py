#!/usr/bin/env python3
"""tools/regress.py against baselines made to order from a real results file.

    check_regress.py RESULTS_JSON WORK_DIR

With RESULTS_JSON from a short real run, baselines are written whose values put each budget
where a case needs it:
  * a baseline of another machine kind: refused (exit 2), naming both kinds;
  * the run itself three times over: no regression (exit 0);
  * a budget that passed in every baseline run, now beyond its goal by more than its noise
    (the run's value moved past the goal): fails (exit 1) and names the budget (--no-rerun:
    the rerun needs the binary, and the bench pass's own CI step exercises it);
  * the same budget with the baseline runs not all passing: printed, not failing (exit 0);
  * the same budget beyond its goal by less than its noise: not failing (exit 0).
"""
import copy
import json
import os
import subprocess
import sys

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import regress  # noqa: E402


def run(baseline, results):
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "regress.py"), "check", "--baseline", baseline, "--results", results,
                        "--no-rerun"], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def main(argv):
    src, work = argv[1], argv[2]
    os.makedirs(work, exist_ok=True)
    with open(src) as f:
        doc = json.load(f)
    # A baseline of the run itself, three times: the shape `make` writes.
    copies = []
    for i in range(3):
        p = os.path.join(work, f"run{i}.json")
        with open(p, "w") as f:
            json.dump(doc, f)
        copies.append(p)
    own = os.path.join(work, "own.json")
    regress.make(own, copies)
    with open(own) as f:
        base = json.load(f)

    failures = []

    def expect(name, baseline, results_doc, code, words):
        bp = os.path.join(work, name + ".baseline.json")
        rp = os.path.join(work, name + ".results.json")
        with open(bp, "w") as f:
            json.dump(baseline, f)
        with open(rp, "w") as f:
            json.dump(results_doc, f)
        got, out = run(bp, rp)
        ok = got == code and all(w in out for w in words)
        print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {got} (want {code})")
        if not ok:
            failures.append(f"{name}:\n{out}")

    other = copy.deepcopy(base)
    other["machine"]["kind"] = "other-cpu-64cpu-512gib"
    expect("another machine kind", other, doc, 2, ["refusing the baseline", "other-cpu-64cpu-512gib", doc["machine"]["kind"]])
    expect("the run against itself", base, doc, 0, ["no confirmed regression"])

    # A measured budget with a ">=" goal: move it past its goal in a copy of the run.
    target = next((b, x) for b in doc["binaries"] for x in b["budgets"] if x["status"] != "SKIP" and x["goal"]["op"] == ">=")
    metric, goal = target[1]["metric"], target[1]["goal"]["value"]
    worse = copy.deepcopy(doc)
    for b in worse["binaries"]:
        for x in b["budgets"]:
            if x["metric"] == metric:
                x["value"], x["status"] = goal * 0.7, "FAIL"
    passing = copy.deepcopy(base)
    passing["budgets"][metric].update(values=[goal * 1.20, goal * 1.25, goal * 1.30], status=["PASS"] * 3)
    expect("a passing budget now 30% under its goal", passing, worse, 1, ["FAIL", metric])
    flaky = copy.deepcopy(passing)
    flaky["budgets"][metric]["status"] = ["PASS", "FAIL", "PASS"]
    expect("the same, when the baseline did not always pass", flaky, worse, 0, ["no confirmed regression", metric])
    noisy = copy.deepcopy(passing)
    noisy["budgets"][metric]["values"] = [goal * 1.0, goal * 1.2, goal * 1.4]  # spread 40% of the median
    expect("the same, within the baseline's noise", noisy, worse, 0, ["no confirmed regression"])

    if failures:
        print("\n".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

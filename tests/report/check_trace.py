#!/usr/bin/env python3
"""Checks a Chrome Trace Event file written by report/trace.hpp.

    check_trace.py TRACE [--ticks K] [--workers W] [--overruns]

The format: a JSON object with a traceEvents array; every event has the fields its phase type
needs (name, ph, pid, tid; ts and cat unless metadata; dur >= 0 for complete events; a scope for
instant events); every track used is named by a thread_name event; on every track the complete
events nest (each one ends before the one around it ends). tickflow's content: K ticks on track
0, each holding its five phases back to back in order; every task inside a tick, on a worker
track; with --overruns, at least one overrun instant, each at its tick's end.

    check_trace.py --self-test TRACE

breaks a good trace in each of the ways above and fails unless every broken copy is refused.
"""
import copy
import json
import sys

PHASES = ["apply", "propagate", "graph", "gc", "log"]
EPS = 0.0015  # microseconds: the writer prints nanoseconds exactly, as three decimals


class Bad(Exception):
    pass


def check(trace, ticks=None, workers=None, overruns=False):
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        raise Bad("not an object with a traceEvents array")
    if trace.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        raise Bad("displayTimeUnit must be ms or ns")
    events = trace["traceEvents"]
    named = set()
    spans = {}
    instants = []
    for i, e in enumerate(events):
        where = f"event {i} ({e.get('name')!r})" if isinstance(e, dict) else f"event {i}"
        if not isinstance(e, dict):
            raise Bad(f"{where}: not an object")
        for field, kind in (("name", str), ("ph", str), ("pid", int), ("tid", int)):
            if not isinstance(e.get(field), kind):
                raise Bad(f"{where}: missing or mistyped {field}")
        ph = e["ph"]
        if ph == "M":
            if e["name"] == "thread_name":
                if not isinstance(e.get("args", {}).get("name"), str):
                    raise Bad(f"{where}: thread_name without args.name")
                named.add((e["pid"], e["tid"]))
            continue
        if not isinstance(e.get("ts"), (int, float)) or e["ts"] < 0:
            raise Bad(f"{where}: missing or negative ts")
        if not isinstance(e.get("cat"), str):
            raise Bad(f"{where}: missing cat")
        if ph == "X":
            if not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0:
                raise Bad(f"{where}: complete event without a non-negative dur")
            spans.setdefault((e["pid"], e["tid"]), []).append(e)
        elif ph == "i":
            if e.get("s") not in ("g", "p", "t"):
                raise Bad(f"{where}: instant event without scope g, p or t")
            instants.append(e)
        else:
            raise Bad(f"{where}: phase type {ph!r} is not one tickflow writes")
        if (e["pid"], e["tid"]) not in named:
            raise Bad(f"{where}: track {e['tid']} has no thread_name (metadata comes first)")

    # Nesting, per track.
    for track, evs in spans.items():
        stack = []
        for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"] + EPS:
                stack.pop()
            if stack and e["ts"] + e["dur"] > stack[-1]["ts"] + stack[-1]["dur"] + EPS:
                raise Bad(f"track {track[1]}: {e['name']!r} at {e['ts']} overlaps {stack[-1]['name']!r} without nesting in it")
            stack.append(e)

    # tickflow's content.
    track0 = sorted(spans.get((1, 0), []), key=lambda e: (e["ts"], -e["dur"]))
    tick_events = [e for e in track0 if e["cat"] == "tick"]
    if ticks is not None and len(tick_events) != ticks:
        raise Bad(f"{len(tick_events)} ticks in the trace, expected {ticks}")
    windows = []
    for t in tick_events:
        start, end = t["ts"], t["ts"] + t["dur"]
        inside = [e for e in track0 if e["cat"] == "phase" and start - EPS <= e["ts"] and e["ts"] + e["dur"] <= end + EPS]
        if [e["name"] for e in inside] != PHASES:
            raise Bad(f"{t['name']}: phases {[e['name'] for e in inside]}, expected {PHASES}")
        at = start
        for e in inside:
            if abs(e["ts"] - at) > EPS:
                raise Bad(f"{t['name']}: phase {e['name']} does not start where the previous one ended")
            at = e["ts"] + e["dur"]
        if abs(at - end) > EPS:
            raise Bad(f"{t['name']}: its phases do not add up to the tick")
        windows.append((start, end))
    tasks = [e for (pid, tid), evs in spans.items() if tid != 0 for e in evs]
    for e in tasks:
        if e["cat"] != "task" or e["name"] not in PHASES + ["task"]:
            raise Bad(f"task {e['name']!r} on track {e['tid']}: unexpected category or name")
        if not any(s - EPS <= e["ts"] <= en + EPS for s, en in windows):
            raise Bad(f"task on track {e['tid']} at {e['ts']} begins outside every tick")
    if workers is not None:
        tracks = {e["tid"] for e in tasks}
        if tracks != set(range(1, workers + 1)):
            raise Bad(f"tasks on tracks {sorted(tracks)}, expected one per worker 1..{workers}")
    if overruns and not instants:
        raise Bad("no overrun instant, and overruns were expected")
    ends = {round(en, 3) for _, en in windows}
    for e in instants:
        if e["cat"] != "overrun" or not e["name"].startswith("overrun ") or "excess_us" not in e.get("args", {}):
            raise Bad(f"instant {e['name']!r}: not an overrun with its excess")
        if not any(abs(e["ts"] - en) <= EPS for en in ends):
            raise Bad(f"{e['name']} at {e['ts']} is not at a tick's end")
    return len(tick_events), len(tasks), len(instants)


def self_test(trace):
    check(trace)
    evs = trace["traceEvents"]
    first_x = next(i for i, e in enumerate(evs) if e["ph"] == "X" and e["cat"] == "phase")
    first_task = next(i for i, e in enumerate(evs) if e.get("cat") == "task")
    first_i = next((i for i, e in enumerate(evs) if e["ph"] == "i"), None)
    breaks = {
        "no traceEvents": lambda t: t.pop("traceEvents"),
        "an event without ts": lambda t: t["traceEvents"][first_x].pop("ts"),
        "an event without pid": lambda t: t["traceEvents"][first_x].pop("pid"),
        "a negative dur": lambda t: t["traceEvents"][first_x].update(dur=-1),
        "a phase past its tick": lambda t: t["traceEvents"][first_x].update(dur=t["traceEvents"][first_x]["dur"] + 1e6),
        "an unnamed track": lambda t: t["traceEvents"][first_task].update(tid=99),
        "a task outside the ticks": lambda t: t["traceEvents"][first_task].update(ts=1e12),
        "a phase missing": lambda t: t["traceEvents"].pop(first_x),
        "an unknown phase type": lambda t: t["traceEvents"][first_x].update(ph="Q"),
    }
    if first_i is not None:
        breaks["an instant without scope"] = lambda t: t["traceEvents"][first_i].pop("s")
        breaks["an overrun off its tick's end"] = lambda t: t["traceEvents"][first_i].update(ts=t["traceEvents"][first_i]["ts"] + 7)
    survived = []
    for what, brk in breaks.items():
        t = copy.deepcopy(trace)
        brk(t)
        try:
            check(t)
            survived.append(what)
        except Bad as err:
            print(f"refused, as it should be: {what}: {err}")
    if survived:
        raise Bad(f"broken traces accepted: {survived}")


def main(argv):
    args = argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if args[0] == "--self-test":
            with open(args[1]) as f:
                self_test(json.load(f))
            print("self-test: every broken trace refused")
            return 0
        path, ticks, workers, overruns = args[0], None, None, False
        i = 1
        while i < len(args):
            if args[i] == "--ticks":
                ticks, i = int(args[i + 1]), i + 2
            elif args[i] == "--workers":
                workers, i = int(args[i + 1]), i + 2
            elif args[i] == "--overruns":
                overruns, i = True, i + 1
            else:
                print(f"unknown argument {args[i]}", file=sys.stderr)
                return 2
        with open(path) as f:
            trace = json.load(f)
        n_ticks, n_tasks, n_instants = check(trace, ticks, workers, overruns)
        print(f"{path}: valid; {n_ticks} ticks, {n_tasks} worker tasks, {n_instants} overruns")
        return 0
    except (Bad, json.JSONDecodeError, OSError) as err:
        print(f"invalid trace: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

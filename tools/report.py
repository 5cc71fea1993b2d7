#!/usr/bin/env python3
"""Writes report.html from results.json: one self-contained page, every chart an inline SVG.

    report.py RESULTS_JSON [--out report.html] [--history docs/benchmarks.md]

The results file is checked against docs/results-schema.json first; a file that fails stops the
report with the first violation, named. Charts are drawn by matplotlib (its SVG backend, text kept
as text); the page loads nothing from anywhere. A rival that is not installed appears as a labelled
empty row, "not installed", never as a zero bar. A chart whose data the run does not hold says so
in place of the plot.
"""
import argparse
import html
import io
import json
import os
import re
import sys

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import results as results_mod  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "figure.dpi": 96, "svg.hashsalt": "tickflow"})
TF = "#2563eb"
RIVAL = "#9ca3af"
FAIL = "#dc2626"
PHASE_COLORS = {"apply": "#2563eb", "propagate": "#16a34a", "graph": "#f59e0b", "gc": "#9333ea", "log": "#6b7280"}

# Head-to-head scenarios: (title, binary, unit, higher_is_better, tickflow case, [(rival label, case)]).
# Case names are matched on their prefix (Google Benchmark appends /min_time:..., /manual_time).
SCENARIOS = [
    ("SPSC ring, single items", "bench_queue", "M items/s", True, "spsc_1x1/tickflow_spsc_spread/",
     [("boost spsc_queue", "spsc_1x1/boost_spsc/"), ("moodycamel ReaderWriterQueue", "spsc_1x1/moodycamel_rwq/"),
      ("std::mutex + deque", "spsc_1x1/mutex_deque/")]),
    ("SPSC ring, batches of 256", "bench_queue", "M items/s", True, "spsc_batch256/tickflow_spsc/",
     [("boost spsc_queue", "spsc_batch256/boost_spsc/"), ("moodycamel ConcurrentQueue", "spsc_batch256/moodycamel_cq/")]),
    ("SPSC round trip", "bench_queue", "ns", False, "rtt/tickflow_spsc_spread/",
     [("two-line floor", "rtt/floor_two_lines/"), ("boost spsc_queue", "rtt/boost_spsc/"),
      ("moodycamel ReaderWriterQueue", "rtt/moodycamel_rwq/"), ("std::mutex + deque", "rtt/mutex_deque/")]),
    ("MPMC ring, 1 producer + 1 consumer", "bench_queue", "M items/s", True, "mpmc_1x1/tickflow_mpmc/",
     [("boost lockfree::queue", "mpmc_1x1/boost_queue/"), ("moodycamel ConcurrentQueue", "mpmc_1x1/moodycamel_cq/"),
      ("oneTBB concurrent_bounded_queue", "mpmc_1x1/tbb_bounded/"), ("std::mutex + deque", "mpmc_1x1/mutex_deque/")]),
    ("MPMC ring, 2 + 2 on 2 cores", "bench_queue", "M items/s", True, "mpmc_2x2/tickflow_mpmc/",
     [("moodycamel ConcurrentQueue", "mpmc_2x2/moodycamel_cq/"), ("oneTBB concurrent_bounded_queue", "mpmc_2x2/tbb_bounded/"),
      ("boost lockfree::queue", "mpmc_2x2/boost_queue/"), ("std::mutex + deque", "mpmc_2x2/mutex_deque/")]),
    ("20,000 fork-joins of 4 empty tasks on 2 workers", "benchmark_05_throughput", "ms", False, "fork_join/tickflow_pool_2w_4tasks",
     [("oneTBB parallel_for", "fork_join/onetbb_2w_4tasks")]),
    ("Incremental cycle check, edge insertions", "benchmark_03_graph", "ms", False, "insert/tickflow_page_graph",
     [("Abseil GraphCycles", "insert/abseil_graphcycles")]),
]


# ------------------------------------------------------------------ data access
def find_case(doc, binary, prefix):
    for b in doc["binaries"]:
        if b["name"] != binary:
            continue
        for c in b["benchmarks"]:
            if c["name"] == prefix or c["name"].startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return c
    return None


def binary_ran(doc, binary):
    return any(b["name"] == binary for b in doc["binaries"])


TO_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}


def value_of(case, unit):
    if unit == "M items/s":
        return case.get("items_per_second", 0.0) / 1e6
    # Times: a round trip case counts items (round trips) per second.
    if unit == "ns" and case.get("items_per_second"):
        return 1e9 / case["items_per_second"]
    us = case["real_time"] * TO_US[case["time_unit"]]
    return {"ns": us * 1e3, "us": us, "ms": us / 1e3, "s": us / 1e6}[unit]


def info_value(doc, metric):
    for b in doc["binaries"]:
        for i in b["info"]:
            if i["metric"] == metric:
                return i["value"]
    return None


# ------------------------------------------------------------------ charts
def svg_of(fig):
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def empty_chart(message):
    return f'<p class="nodata">{html.escape(message)}</p>'


def chart_rivals(doc):
    rows = []
    for title, binary, unit, higher, tf_case, rivals in SCENARIOS:
        if not binary_ran(doc, binary):
            continue
        tf = find_case(doc, binary, tf_case)
        if tf is None:
            continue
        entries = [("tickflow", value_of(tf, unit), True)]
        for label, case in rivals:
            c = find_case(doc, binary, case)
            entries.append((label, value_of(c, unit) if c else None, False))
        rows.append((title, unit, higher, entries))
    if not rows:
        return empty_chart("No head-to-head case ran in this run.")
    height = sum(0.35 * len(e) + 0.7 for _, _, _, e in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(7.5, height), squeeze=False)
    for ax, (title, unit, higher, entries) in zip(axes[:, 0], rows):
        labels = [e[0] for e in entries][::-1]
        vals = [e[1] for e in entries][::-1]
        tfv = entries[0][1]
        top = max(v for v in vals if v is not None)
        for y, (label, v) in enumerate(zip(labels, vals)):
            if v is None:
                ax.text(0, y, "  not installed", va="center", ha="left", color="#6b7280", style="italic")
                continue
            ax.barh(y, v, color=TF if label == "tickflow" else RIVAL, height=0.6)
            ratio = (tfv / v if higher else v / tfv) if v > 0 and tfv > 0 else float("nan")
            note = f"{v:.3g}" if label == "tickflow" else f"{v:.3g}   tickflow x{ratio:.2f}"
            ax.text(v + top * 0.01, y, note, va="center", ha="left", fontsize=8)
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlim(0, top * 1.45)
        ax.set_title(f"{title} ({unit}, {'higher' if higher else 'lower'} is better)", loc="left", fontsize=9)
    fig.tight_layout()
    return svg_of(fig)


def chart_graph(doc):
    if not binary_ran(doc, "benchmark_03_graph"):
        return empty_chart("Suite 03 did not run in this run.")
    graph = next(b for b in doc["binaries"] if b["name"] == "benchmark_03_graph")
    cases = sorted({(m.group(1), int(m.group(2))) for c in graph["benchmarks"]
                    for m in [re.match(r"^validate/tickflow/([a-z0-9_]+)/(\d+)$", c["name"])] if m})
    pairs = []
    for shape, n in cases:
        tf = find_case(doc, "benchmark_03_graph", f"validate/tickflow/{shape}/{n}")
        bo = find_case(doc, "benchmark_03_graph", f"validate/boost_scc/{shape}/{n}")
        pairs.append((f"{shape} {n:,}", value_of(tf, "ms"), value_of(bo, "ms") if bo else None))
    if not pairs:
        return empty_chart("No graph validation case ran in this run.")
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    xs = range(len(pairs))
    ax.bar([x - 0.2 for x in xs], [p[1] for p in pairs], width=0.4, color=TF, label="tickflow validate")
    for x, p in zip(xs, pairs):
        if p[2] is None:
            ax.text(x + 0.2, p[1], "boost: not installed", rotation=90, va="bottom", ha="center", fontsize=7, color="#6b7280")
        else:
            ax.bar(x + 0.2, p[2], width=0.4, color=RIVAL, label="Boost.Graph strong components" if x == 0 else None)
            ax.text(x, max(p[1], p[2]) * 1.15, f"x{p[2] / p[1]:.1f}", ha="center", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("ms per full validation (log)")
    ax.set_xticks(list(xs), [p[0] for p in pairs], rotation=35, ha="right", fontsize=7)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return svg_of(fig)


def chart_tick_distribution(doc):
    series = doc.get("ticks", {})
    if not series:
        return empty_chart("Suite 06 did not run in this run: no tick records.")
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    for name, color in (("W-local", TF), ("W", "#f97316")):
        if name not in series:
            continue
        totals = sorted(r["total_ns"] / 1e6 for r in series[name]["records"])
        if not totals:
            continue
        p50, p99 = totals[len(totals) // 2], totals[min(len(totals) - 1, int(0.99 * len(totals)))]
        ax.hist(totals, bins=60, histtype="step", linewidth=1.5, color=color,
                label=f"{name}: {len(totals)} ticks, p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    ax.axvline(16.0, color=FAIL, linestyle="--", linewidth=1)
    ax.text(16.0, ax.get_ylim()[1] * 0.9, " 16 ms frame", color=FAIL, fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("tick total (ms)")
    ax.set_ylabel("ticks (log)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return svg_of(fig)


def chart_phase_timeline(doc):
    series = doc.get("ticks", {})
    name = "W-local" if "W-local" in series else next(iter(series), None)
    if name is None:
        return empty_chart("Suite 06 did not run in this run: no tick records.")
    recs = series[name]["records"]
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    xs = [r["tick"] for r in recs]
    stacks = [[r["phase_ns"][p] / 1e6 for r in recs] for p in results_mod.PHASES]
    ax.stackplot(xs, *stacks, labels=results_mod.PHASES, colors=[PHASE_COLORS[p] for p in results_mod.PHASES], linewidth=0)
    over = [r["tick"] for r in recs if r["overran"]]
    top = max(r["total_ns"] for r in recs) / 1e6 * 1.12
    if over:  # a rug along the top: one red mark per tick that overran a budget
        ax.vlines(over, top * 0.95, top, color=FAIL, linewidth=0.6, label=f"overran a budget ({len(over)} of {len(recs)} ticks)")
    ax.set_ylim(0, top)
    ax.axhline(16.0, color=FAIL, linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"tick ({name})")
    ax.set_ylabel("ms")
    ax.legend(frameon=False, fontsize=7, ncol=6, loc="upper left")
    fig.tight_layout()
    return svg_of(fig)


def chart_workers(doc):
    groups = []
    for label, stem in (("apply, 8M dense 64 B deltas", "throughput.apply_dense64"), ("apply, 8M 8 B word deltas", "throughput.apply_word8"),
                        ("apply, 1M deltas each page once", "throughput.apply_unique"), ("ingest end to end (producers)", "throughput.ingest")):
        vals = [(w, info_value(doc, f"{stem}_{w}w")) for w in (1, 2)]
        vals = [(w, v) for w, v in vals if v is not None]
        if vals:
            groups.append((label, vals))
    if not groups:
        return empty_chart("Suite 05 did not run in this run: no per-worker rates.")
    fig, ax = plt.subplots(figsize=(7.5, 3.0))
    for i, (label, vals) in enumerate(groups):
        ax.plot([w for w, _ in vals], [v / 1e6 for _, v in vals], marker="o", label=label)
        for w, v in vals:
            ax.annotate(f"{v / 1e6:.0f}", (w, v / 1e6), textcoords="offset points", xytext=(6, -3 + 8 * (i % 2)), fontsize=7)
    ax.set_xticks([1, 2])
    ax.set_xlabel(f"workers (the machine has {doc['machine']['cores']} CPUs)")
    ax.set_ylabel("M deltas/s")
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return svg_of(fig)


def chart_memory(doc):
    churn = doc.get("memory", {}).get("churn")
    if not churn:
        return empty_chart("Suite 07 did not run in this run: no churn series.")
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.5, 4.2), sharex=True)
    ticks = [c["tick"] for c in churn]
    a1.plot(ticks, [c["slab"] / 1e6 for c in churn], color=TF, label="slab MB")
    a1.set_ylabel("slab MB")
    b1 = a1.twinx()
    b1.plot(ticks, [c["fragmentation"] for c in churn], color="#f97316", label="fragmentation")
    b1.axhline(0.10, color=FAIL, linestyle="--", linewidth=0.8)
    b1.set_ylabel("fragmentation")
    shown = [ln for ln in a1.get_lines() + b1.get_lines() if not ln.get_label().startswith("_")]
    a1.legend(handles=shown, frameon=False, fontsize=8, loc="lower right")
    paused = [(c["tick"], c["pause_ms"]) for c in churn if c["pause_ms"] > 0]
    a2.vlines([p[0] for p in paused], 0, [p[1] for p in paused], color="#9333ea", linewidth=0.8)
    a2.axhline(1.0, color=FAIL, linestyle="--", linewidth=0.8)
    a2.text(ticks[-1], 1.0, "p99 goal 1 ms", ha="right", va="bottom", color=FAIL, fontsize=7)
    a2.set_ylabel("GC pause (ms)")
    a2.set_xlabel("churn tick (1% of 1M pages released and created per tick)")
    fig.tight_layout()
    return svg_of(fig)


# ------------------------------------------------------------------ page
CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1020px;padding:16px 24px;color:#111827}
h1{font-size:22px;margin:8px 0} h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #e5e7eb;padding-bottom:4px}
table{border-collapse:collapse;font-size:12.5px;width:100%} th,td{padding:3px 8px;border-bottom:1px solid #f3f4f6;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} .PASS{color:#15803d;font-weight:600} .FAIL{color:#b91c1c;font-weight:600}
.SKIP{color:#6b7280} .facts{color:#374151;font-size:13px} figure{margin:10px 0} figcaption{color:#4b5563;font-size:12.5px}
.nodata{color:#6b7280;font-style:italic;border:1px dashed #d1d5db;padding:12px} code{font-size:12px}
"""

CHARTS = [
    ("rivals", "tickflow against each rival", chart_rivals,
     "Medians of each case in this run; the ratio is tickflow's advantage (above 1: tickflow is faster). Rivals that are not installed are named, with no bar."),
    ("ticks", "Tick latency distribution", chart_tick_distribution,
     "Every measured tick of suite 06 (workload W-local and W, 100k deltas and 2k edge edits per tick, 2 workers)."),
    ("phases", "Per-phase timeline over ticks", chart_phase_timeline,
     "Each tick's phases stacked (apply, propagate, graph, GC, log); red marks along the top: ticks that overran a budget."),
    ("workers", "Throughput against workers", chart_workers,
     "Suite 05: deltas per second with 1 worker (inline) and 2 workers, by workload."),
    ("memory", "Memory and GC pauses over the churn ticks", chart_memory,
     "Suite 07: slab bytes and fragmentation after each churn tick, and every GC slice's pause."),
    ("graph", "Graph validation against Boost", chart_graph,
     "Suite 03: one full validation (cycle check and order) of graphs of 10k to 1M pages, against Boost.Graph's strong components."),
]


def budget_table(doc):
    rows = []
    for b in doc["binaries"]:
        for x in b["budgets"]:
            v = "not measured" if x["value"] is None else f"{x['value']:.4g}"
            why = f' <span class="SKIP">({html.escape(x["why"])})</span>' if x.get("why") else ""
            if x.get("placement"):
                why += f" (threads {html.escape(x['placement'])})"
            rows.append(f"<tr><td><code>{html.escape(x['metric'])}</code></td><td class=\"num\">{v}</td><td>{html.escape(x['unit'])}</td>"
                        f"<td>{html.escape(x['goal']['op'])} {x['goal']['value']:g}</td><td class=\"{x['status']}\">{x['status']}</td>"
                        f"<td>{html.escape(b['name'])}{why}</td></tr>")
    return ("<table id=\"budgets\"><thead><tr><th>budget</th><th>value</th><th>unit</th><th>goal</th><th>status</th><th>binary</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


def markdown_table(doc):
    """The budget table as Markdown (the README's current table is this, pasted)."""
    out = ["| budget | value | goal | status |", "|---|---|---|---|"]
    for b in doc["binaries"]:
        for x in b["budgets"]:
            v = "not measured" if x["value"] is None else f"{x['value']:.4g} {x['unit']}"
            note = f" ({x['placement']})" if x.get("placement") else ""
            out.append(f"| `{x['metric']}`{note} | {v} | {x['goal']['op']} {x['goal']['value']:g} | {x['status']} |")
    s = doc["summary"]
    out.append("")
    out.append(f"{s['pass']} PASS, {s['fail']} FAIL, {s['skip']} SKIP; revision {doc['git']['revision'][:12]}, {doc['generated']}, "
               f"machine `{doc['machine']['kind']}`.")
    return "\n".join(out) + "\n"


def page(doc, history_link):
    m = doc["machine"]
    s = doc["summary"]
    rivals = ", ".join(f"{k} {v}" if v else f"{k} not installed" for k, v in sorted(m["rivals"].items()))
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>tickflow benchmark report {html.escape(doc['git']['revision'][:12])}</title><style>{CSS}</style></head><body>",
        "<h1>tickflow benchmark report</h1>",
        f"<p class=\"facts\">Revision <code>{html.escape(doc['git']['revision'])}</code>{' (work tree modified)' if doc['git']['dirty'] else ''}, "
        f"run {html.escape(doc['generated'])}.<br>Machine <code>{html.escape(m['kind'])}</code>: {html.escape(m['cpu_model'])}, "
        f"{m['cores']} CPUs, {m['memory_bytes'] / 2**30:.1f} GiB, {html.escape(m['os'])}, kernel {html.escape(m['kernel'])}; "
        f"{html.escape(m['compiler'])} <code>{html.escape(m['flags'])}</code>.<br>Rivals: {html.escape(rivals)}.</p>",
        f"<h2>Budgets: {s['pass']} PASS, {s['fail']} FAIL, {s['skip']} SKIP</h2>",
        budget_table(doc),
    ]
    for cid, title, fn, caption in CHARTS:
        parts.append(f"<h2>{html.escape(title)}</h2><figure class=\"chart\" id=\"chart-{cid}\" data-chart=\"{cid}\">{fn(doc)}"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if history_link:
        parts.append(f"<p class=\"facts\">Earlier runs, with the reasons behind each number: <a href=\"{html.escape(history_link)}\">"
                     f"{html.escape(history_link)}</a>.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--out")
    ap.add_argument("--markdown", action="store_true", help="print the budget table as Markdown instead")
    ap.add_argument("--history", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "benchmarks.md")))
    args = ap.parse_args(argv[1:])
    try:
        with open(args.results) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        print(f"report.py: cannot read {args.results}: {err}", file=sys.stderr)
        return 1
    try:
        results_mod.validate(doc)
    except results_mod.Invalid as err:
        print(f"report.py: {args.results} does not match the results schema: {err}", file=sys.stderr)
        return 1
    if args.markdown:
        sys.stdout.write(markdown_table(doc))
        return 0
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.results)), "report.html")
    history = os.path.relpath(args.history, os.path.dirname(os.path.abspath(out))) if args.history else None
    text = page(doc, history)
    if re.search(r"""(src|href)=["']?(https?:)?//""", text):
        print("report.py: the page would load something from the network", file=sys.stderr)
        return 1
    with open(out, "w") as f:
        f.write(text)
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

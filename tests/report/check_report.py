#!/usr/bin/env python3
"""Loads report.html in headless Chromium: no console message, every chart in the DOM, a screenshot.

    check_report.py REPORT_HTML --screenshot PNG [--charts id,id,...] [--self-test]

Chromium (Debian's `chromium`) renders the page from a file: URL with its console logged to
stderr; any console line fails the check (the page has no script of its own, so a message means
an error: a resource it tried to load, a parse failure). The DOM Chromium returns after loading
must hold, for each chart id, a <figure class="chart" id="chart-ID"> with an inline <svg> that
draws (paths or text), or, for charts not listed, a figure at all. --self-test also checks that a
copy of the page with a console error, and a copy with a chart removed, are both refused.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

ALL_CHARTS = ["rivals", "ticks", "phases", "workers", "memory", "graph"]


class Bad(Exception):
    pass


class Dom(HTMLParser):
    """Figures by id: whether each holds an svg, and how many drawing elements it has."""

    def __init__(self):
        super().__init__()
        self.figures = {}
        self.stack = []  # the figure ids we are inside
        self.tables = set()
        self.loads = []  # elements that would load something: the page must be self-contained

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("src") or (tag == "link" and a.get("href")) or (tag == "object" and a.get("data")):
            self.loads.append(f"<{tag}> {a.get('src') or a.get('href') or a.get('data')}")
        if tag == "table" and a.get("id"):
            self.tables.add(a["id"])
        if tag == "figure" and "chart" in (a.get("class") or "").split():
            fid = a.get("id", "")
            self.figures[fid] = {"svg": 0, "drawn": 0, "nodata": 0}
            self.stack.append(fid)
            return
        if self.stack:
            f = self.figures[self.stack[-1]]
            if tag == "svg":
                f["svg"] += 1
            elif tag in ("path", "text", "rect", "line", "polyline", "use"):
                f["drawn"] += 1
            elif tag == "p" and "nodata" in (a.get("class") or ""):
                f["nodata"] += 1

    def handle_endtag(self, tag):
        if tag == "figure" and self.stack:
            self.stack.pop()


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise Bad("no Chromium found (bash cmake/setup-deps.sh --report installs Debian's chromium)")


def trim(png):
    """Cuts the blank space below the page's end (the window is taller than most pages)."""
    try:
        from PIL import Image, ImageChops
    except ImportError:
        return
    im = Image.open(png).convert("RGB")
    box = ImageChops.difference(im, Image.new("RGB", im.size, (255, 255, 255))).getbbox()
    if box:
        im = im.crop((0, 0, im.size[0], min(im.size[1], box[3] + 24)))
    # Charts on white: a 256-colour palette keeps them sharp at a quarter of the bytes.
    im.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(png, optimize=True)


def render(path, screenshot=None):
    """Returns (dom, console lines)."""
    url = "file://" + os.path.abspath(path)
    base = [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--enable-logging=stderr", "--v=0", "--window-size=1100,6200", "--hide-scrollbars"]
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run(base + [f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Bad(f"chromium exited {r.returncode}: {r.stderr[-800:]}")
        console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
        if screenshot:
            s = subprocess.run(base + [f"--user-data-dir={profile}", f"--screenshot={os.path.abspath(screenshot)}", url],
                               capture_output=True, text=True, timeout=120)
            if s.returncode != 0 or not os.path.exists(screenshot) or os.path.getsize(screenshot) < 10000:
                raise Bad(f"no screenshot written: {s.stderr[-800:]}")
            trim(screenshot)
    return r.stdout, console


def check(path, charts, screenshot=None):
    dom_text, console = render(path, screenshot)
    if console:
        raise Bad("console messages: " + " | ".join(console[:5]))
    dom = Dom()
    dom.feed(dom_text)
    if dom.loads or re.search(r"@import|url\(\s*['\"]?(https?:|//|file:)", dom_text):
        raise Bad(f"the page is not self-contained: it loads {dom.loads[:3] or 'a stylesheet resource'}")
    if "budgets" not in dom.tables:
        raise Bad("no budget table in the DOM")
    for cid in ALL_CHARTS:
        f = dom.figures.get(f"chart-{cid}")
        if f is None:
            raise Bad(f"chart {cid}: no <figure class=chart id=chart-{cid}> in the DOM")
        if cid in charts and (f["svg"] == 0 or f["drawn"] < 10):
            raise Bad(f"chart {cid}: no drawn <svg> in its figure ({f})")
    return dom


def self_test(path, charts):
    with tempfile.TemporaryDirectory() as tmp:
        text = open(path).read()
        broken = {
            "a console error": text.replace("</body>", "<script>console.error('broken on purpose')</script></body>"),
            "a missing resource": text.replace("</body>", "<img src=\"missing-on-purpose.png\"></body>"),
            "a chart removed": re.sub(r'<figure class="chart" id="chart-ticks".*?</figure>', "", text, flags=re.S),
            "a chart without its svg": re.sub(r'(<figure class="chart" id="chart-rivals"[^>]*>).*?(<figcaption>)', r"\1\2", text,
                                               flags=re.S),
        }
        for what, body in broken.items():
            p = os.path.join(tmp, "broken.html")
            with open(p, "w") as f:
                f.write(body)
            try:
                check(p, charts)
            except Bad as err:
                print(f"refused, as it should be: {what}: {err}")
                continue
            raise Bad(f"a page with {what} passed the check")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report")
    ap.add_argument("--screenshot")
    ap.add_argument("--charts", default=",".join(ALL_CHARTS))
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args(argv[1:])
    charts = [c for c in args.charts.split(",") if c]
    try:
        dom = check(args.report, charts, args.screenshot)
        drawn = {k[6:]: v["drawn"] for k, v in dom.figures.items()}
        print(f"{args.report}: rendered with no console message; charts drawn: {drawn}")
        if args.screenshot:
            print(f"screenshot: {args.screenshot}")
        if args.self_test:
            self_test(args.report, charts)
            print("self-test: every broken page refused")
    except (Bad, subprocess.TimeoutExpired) as err:
        print(f"check_report: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

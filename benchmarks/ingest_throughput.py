"""doctune's ingest of text PDFs against a bare single-process pypdfium2 loop over the same files.

    python benchmarks/ingest_throughput.py [--docs 100 1000] [--pages 3]

One run: a corpus of text PDFs is written locally (no download: a small PDF writer below, base-14
Helvetica, a heading and ~45 lines of prose per page, a 'Page N' footer, every document's text
different so none is skipped as a copy). For each corpus size (the first 100 documents, then all
1,000) three fresh processes read it, one after the other, each with an empty ingest cache:

- bare: `pypdfium2.PdfDocument(bytes)`, `get_textpage().get_text_range()` on every page, nothing
  else (the baseline: what PDFium alone costs in one process);
- doctune with `ingest.workers: 1` (read in its own process) and with `ingest.workers: 2`: the
  ingest stage itself (listing, hashing, PDF reading with its layout heuristics, chunking, the
  cache, chunks.jsonl and report.json), token counts by the estimate.

Rates are pages per second of the timed part (imports excluded, the worker pool's start
included); ratios are against the bare loop of the same run. CPU is user + system seconds of the
timed part, the pool's workers included (they are joined before the child reports): on a shared
machine it is the steadier figure. Peak memory is the highest sum of the PSS of the process and
its children (PSS: pages the forked workers share with the parent count once), sampled every 20 ms.

Measured here (2 cores shared with other helpers' tests: load average 3.8-7.9 during the runs,
so the wall-clock figures are mostly the machine's; corpora of 100 documents = 300 pages and
1,000 documents = 3,000 pages, 3 pages each; the whole run takes 35-60 s; four runs, the
first two at 372b2b5 (batched cache writes), the last two at e4470b1 (cheaper PDF heuristics
too); PSS from the last three):

| corpus | bare pypdfium2 | doctune workers=1 | doctune workers=2 |
| --- | --- | --- | --- |
| 3,000 pages, wall pages/s | 223-803 | 108-269 (0.33-0.56 of bare) | 158-261 (0.32-0.82 of bare) |
| 3,000 pages, CPU s | 3.3-4.4 | 6.8-7.5 | 7.4-8.7 |
| 300 pages, wall pages/s | 193-949 | 65-372 (0.32-0.39) | 92-333 (0.29-0.57) |
| peak PSS, 100 -> 1,000 docs | 20 -> 20-22 MiB | 40-41 -> 108-109 MiB | 54-55 -> 97-109 MiB (workers 34 -> 35) |

After 316a0f0 (chunks.jsonl written as the documents come), two runs at load 3.9-4.9: peak PSS
with one worker 38-41 -> 40-44 MiB from 100 to 1,000 documents, with two 53 -> 58-61 MiB
(parent 35-36 -> 37-42, workers 34 -> 36-37); bare 21 -> 22 MiB. 3,000 pages: workers=1
0.31-0.67 of bare, workers=2 0.42-0.90 (1.33-1.35x the one-worker rate); CPU 3.6-3.8 s bare,
6.0-7.2 s one worker, 6.9-7.4 s two.

So per page doctune costs 1.5-2.1x the CPU of the bare loop (its layout heuristics, chunking,
hashing, the cache and the output files), and the second worker adds 0.1-1.7 CPU s (the chunks
pickled back, the pool's start). The goals (>= 0.9x the bare loop with one worker, >= 1.5x with
two) are not met: one worker can reach ~0.5-0.7x at best, and two pay only when two cores are
free (the two 1,000-document runs under load 6.8-7.8 gave 1.5x the one-worker rate; the two at
load 3.8-4.4, 0.73-0.97x). Memory: the workers' stays flat; before 316a0f0 the parent's grew
with the corpus (~0.9 MiB per 100 chunks: the stage kept every chunk until it wrote
chunks.jsonl), now it stays within a few MiB (cached files' chunks are still all loaded first).

After db9c190 (cheaper per-line PDF work, same chunks.jsonl and report.json), one run at load
1.7-1.9: 3,000 pages bare 2.9 CPU s / 900 pages/s; workers=1 4.1 CPU s (1.41x bare's CPU per
page, was 1.5-2.1x), 635 pages/s = 0.71 of bare; workers=2 5.1 CPU s, 0.63 of bare (two
workers do not pay at this load). 300 pages: workers=1 0.55 of bare (a fixed ~0.2 s goes to
hashing the ingest code for the cache key). Peak PSS unchanged (bare 23, one worker 42-44 MiB).
The goal of 0.9x with one worker is still not met.

After 8d79700 (line geometry in one loop with no font-weight call, IsGenerated asked only of
characters PDFium can generate, page ranges sorted once per document, each chunk encoded once,
in the worker, a few files per pool task, gc.freeze() before the pool forks; same chunks.jsonl
and report.json), one run at load 1.5, then 2af1769 (before these) right after it at load 1.4-1.5:
3,000 pages bare 2.8 CPU s / 1,054 pages/s; workers=1 4.0 CPU s (1.43x bare's CPU per page;
2af1769: 4.8 vs 3.0 s, 1.60x), 0.70 of bare (2af1769: 0.63); workers=2 4.5 CPU s, 1.15 of bare
= 1.64x the one-worker rate (2af1769: 5.4 s, 1.00 of bare). 300 pages: workers=1 0.69, two 0.91.
Peak PSS: bare 25 MiB; one worker 44 -> 48 MiB from 100 to 1,000 documents; two 60 -> 66 MiB
(workers 35 -> 37). Without gc.freeze() the workers' PSS grew to ~50 MiB on 1,000 documents in
most runs: a collection in a worker touched every object inherited from the stage and copied
its pages. Steadier, in one process, best of 4 over 300 documents at load ~3.5: read_pdf 1.12
-> 0.96 CPU s, read + chunk 1.23 -> 1.11 s, bare 0.68-0.69 s (1.79x -> 1.64x). The goals
(0.9x of the bare loop with one worker, 1.5x with two, <= 1.1x its CPU per page) are still not
met; two workers do reach 1.5x the one-worker rate when two cores are free. What is left is per-line Python (the paragraph heuristics, cleaning), the per-page C calls
(~110 for the undecodable test) and the stage's own work (hashing, cache, output files).

After cbabab1 (ingest/pdf_lines.py: pages and text pages loaded and closed through the C API
without pypdfium2's wrapper objects, the per-line calls without ctypes' argument conversion;
a sentence-boundary regex that opens with one character class; chunk rows encoded without a
model per chunk, ASCII lines by json's ASCII encoder; paragraphs of clean ASCII joined at once;
the same chunks.jsonl and report.json on the example, the tests' PDFs and a 300-document
corpus of this benchmark), one run at load 2.0-2.3 (the bare loop's wall 1.5x its CPU: the
machine was shared), the CPU column now with two decimals and its ratio per page: 3,000 pages
bare 2.58 CPU s / 787 pages/s; workers=1 3.14 CPU s (1.22x bare's CPU per page, was 1.43x),
0.99 of bare; workers=2 3.29 CPU s (1.27x), 1.48 of bare = 1.50x the one-worker rate. 300
pages: workers=1 0.81 of bare (CPU 1.24x), two 1.10 (1.38x). Peak PSS: bare 22 MiB; one
worker 38.5 -> 40.7 MiB from 100 to 1,000 documents, two 52.9 -> 59.1 MiB (workers 33.1 ->
34.8): flat. The run just before it, at load 1.8-2.6, gave the same CPU (1.20x, 1.28x) and
wall ratios of 1.03 and 0.93: the wall follows the load. The goals are still not met on CPU
(1.22x against ~1.1x); the wall ratios reach them only in a run whose bare loop was slowed.
What is left, in one process over 300 of these documents (900 pages, bare loop ~0.61 CPU s):
line geometry 0.056 s (three C calls a line: 1.2 of its 1.7 us), assembling paragraphs 0.059 s
and running lines 0.016 s, the undecodable check 0.029 s (~100 C calls a page before the
sample of 200 is decided: a smaller sample would change which mixed pages go to pdfminer),
chunking 0.028 s, chunk rows and lines 0.033 s; the stage itself (listing, hashing, cache
files, chunks.jsonl, report) ~0.05 s.

After b560b63 (the cache in one append-only log, one write and fsync per batch; files hashed and
looked up in the cache as the readers take them, so a pool starts after 64 files instead of the
whole listing; 16 files per pool task; the undecodable test decided from a prefix of map-error
calls where a bound proves the answer; sizes and baseline drops read once per page; cheaper
listing, builder, chunk lines and chunking; the same chunks.jsonl and report.json on the
example, the tests' documents and a 300-document corpus of this benchmark, 1 and 2 workers) and
e5bfdc5 (a short write finished), one run at e5bfdc5, load 0.4-0.6 (quiet): 3,000 pages bare
2.49 CPU s / 1,183 pages/s; workers=1 3.11 CPU s (1.25x bare's CPU per page), 0.81 of bare;
workers=2 3.15 CPU s (1.26x, was 1.27-1.32x), 1.43 of bare = 1.77x the one-worker rate. 300
pages: workers=1 0.78 (CPU 1.23x), two 1.24 (1.40x: the pool's start is a larger share). Peak
PSS: bare 25 MiB, one worker 45.4 -> 49.3 MiB, two 58.6 -> 64.4 MiB (workers 34.0 -> 35.7): flat
(fa919a8 measures 44 MiB with one worker on 100 documents on this machine now). The run just
before it, at b560b63 and load 0.5-0.7: workers=1 0.82 of bare (CPU 1.22x), workers=2 1.51
(1.23x): a run's ratios move by ~0.03 in CPU and ~0.08 in wall. Interleaved with fa919a8 (3 runs
each of its child processes, 1,000 documents, load ~1, least CPU of 3): one worker 3.17 -> 3.06
CPU s (1.27x -> 1.22x bare's 2.50), two 3.37 -> 3.08 s (1.35x -> 1.23x), two workers' wall
1.79-1.88 -> 1.59-1.62 s (bare 2.50-2.53). The two-worker goal (1.5x) is met in some quiet runs
(1.43-1.59x); the one-worker goal (0.9x, ~1.1x CPU) is not: what is left is per-line Python
(geometry ~0.06 s per 900 pages, paragraphs ~0.05 s, chunking with its overlap search ~0.02 s)
and a fixed ~0.03 s a run hashing the ingest code's import graph for the cache key
(foundation/codehash). An SQLite database for the cache was tried first (62d80bd) and dropped:
3x the CPU of the per-file entries on 900 entries (0.037 vs 0.011 s); the log costs 0.013-0.017
s.

After b2a456a, the two routes of issue 10 measured. B (kept): with `ingest.workers: 1` the one
reading process sends a PDF's pages back (its lines as columns: texts, sizes, baselines, right
edges; ~13 KB a 3-page document), another file's documents, and the stage's process, idle
otherwise, assembles and chunks them while the reader reads the next files (16 files or more).
One process reads, but two are busy: the figures give the readers' CPU apart. A (alone, the
pipeline off): a page's lines as columns, each geometry call mapped over them: 0.81 of bare,
CPU 1.23x, no gain (PDFium's page load is ~82% of the reader's CPU; ctypes costs ~0.16 us of
each ~0.25 us C call, three a line). One run at b2a456a (22:33, load 0.7): 3,000 pages bare
2.44 CPU s / 1,216 pages/s; workers=1 0.99 of bare, CPU 2.96 s (1.21x bare's per page): the
reader 2.41 s (0.99x), the stage's process 0.55 s; workers=2 1.48 of bare, CPU 3.08 s (1.26x).
300 pages: workers=1 0.96 (reader 0.99x), two 1.39. Peak PSS: one worker 54.8 -> 57.2 MiB
(stage 45-48, reader 23), two 60.6 -> 64.6: flat. Eight other runs of the same PDF path (load
0.4-1.6): workers=1 0.92-1.02 of bare (0.85 in one with another process busy on a core; reader
0.94-0.99x, CPU 1.17-1.22x), workers=2 1.32-1.62 (0.77-0.98 in three with another process
busy); 300 pages 0.85-0.93 / 1.27-1.33. Two workers with the stage's process assembling for both
(tried, not kept): CPU 3.05-3.12 vs 3.06-3.20 s, 1.48-1.61 vs 1.50-1.61 of bare: no gain, three
busy processes on two cores. With one reader the wall is the reader's CPU (first task 0.01-0.03
s after the start, the last result 0.04 s before the end). The one-worker goal (0.9x) is met
when a second core is free; on one core the two processes share it and the wall follows the
total CPU (1.21x). 400 Markdown files, workers=1: 0.130 s against 0.166 in one process (quiet).
Also: a reading process now ends when the stage's process is killed (it waited for tasks
forever), and a task sent to a pool whose worker died fails like those in flight instead of
raising out of the stage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

PROSE = (
    "the acylation of isobutylbenzene with acetic anhydride gives an aryl ketone which is "
    "reduced to the alcohol and carbonylated to ibuprofen under palladium catalysis at a "
    "pressure of forty bar and a temperature near one hundred and thirty degrees while the "
    "yield depends on the ligand the solvent and the water content of the feed"
)
WORDS = PROSE.split()


# -- the corpus ----------------------------------------------------------------------------------
def pdf_bytes(seed: int, pages: int) -> bytes:
    """A text PDF: per page a bold heading, paragraphs of 11 pt Helvetica, a footer."""
    rng = random.Random(seed)
    streams = []
    for page in range(1, pages + 1):
        ops = ["BT", "/F2 14 Tf", "72 760 Td", f"(Section {seed}.{page}: process notes) Tj"]
        ops += ["/F1 11 Tf", "13.5 TL", "0 -24 Td"]
        for line in range(42):
            if line % 7 == 6:
                ops.append("T*")  # a blank line between paragraphs
                continue
            ops.append(f"({' '.join(rng.choice(WORDS) for _ in range(14))}) Tj T*")
        ops += ["ET", "BT", "/F1 8 Tf", "290 40 Td", f"(Page {page}) Tj", "ET"]
        streams.append("\n".join(ops).encode("latin-1"))
    objects: list[bytes] = [b"", b""]  # 1: catalog, 2: pages (filled below)
    fonts = "<< /F1 3 0 R /F2 4 0 R >>"
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>")
    kids = []
    for stream in streams:
        content = len(objects) + 2
        kids.append(f"{len(objects) + 1} 0 R")
        page = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font {fonts} >> /Contents {content} 0 R >>"
        )
        objects.append(page.encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_project(folder: Path, docs: int, pages: int, workers: int) -> Path:
    project = folder / f"p{docs}-w{workers}"
    (project / "documents").mkdir(parents=True)
    for i in range(docs):
        (project / "documents" / f"doc_{i:04d}.pdf").write_bytes(pdf_bytes(i, pages))
    config = {"name": "ingest-bench", "ingest": {"workers": workers}}
    (project / "doctune.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return project


# -- the timed children --------------------------------------------------------------------------
def child_bare(project: Path) -> dict:
    import pypdfium2

    files = sorted((project / "documents").glob("*.pdf"))
    cpu, start = cpu_seconds(), time.perf_counter()
    pages = chars = 0
    for file in files:
        pdf = pypdfium2.PdfDocument(file.read_bytes())
        for page in pdf:
            textpage = page.get_textpage()
            chars += len(textpage.get_text_range())
            textpage.close()
            page.close()
            pages += 1
        pdf.close()
    return {"seconds": time.perf_counter() - start, "pages": pages, "cpu": cpu_seconds() - cpu}


def child_doctune(project: Path) -> dict:
    import io

    from rich.console import Console

    from doctune.context import RunContext
    from doctune.ingest import pdf, stage  # noqa: F401  (imports outside the timed part)

    console = Console(file=io.StringIO(), width=200, color_system=None)
    ctx = RunContext(project, show_progress=False, console=console)
    own, readers, start = cpu_seconds("self"), cpu_seconds("children"), time.perf_counter()
    result = asyncio.run(stage.run(ctx))
    seconds = time.perf_counter() - start
    summary = result.summary
    own, readers = cpu_seconds("self") - own, cpu_seconds("children") - readers
    return {
        "seconds": seconds,
        "pages": summary["pages"],
        "chunks": summary["chunks"],
        "errors": summary["errors"],
        "cpu": own + readers,  # the pool's workers are joined by now: counted
        "cpu_readers": readers,  # the reading processes' (0 when this process reads)
    }


def cpu_seconds(who: str | None = None) -> float:
    """User + system CPU time of this process and of its children that have ended (or of
    `who`, "self" or "children", alone)."""
    kinds = {"self": resource.RUSAGE_SELF, "children": resource.RUSAGE_CHILDREN}
    used = [resource.getrusage(kinds[k]) for k in ([who] if who else kinds)]
    return sum(u.ru_utime + u.ru_stime for u in used)


def measure(mode: str, project: Path) -> dict:
    """Run one child; its figures plus the peak memory (PSS) of its process tree."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, str(project)], stdout=subprocess.PIPE
    )
    top = psutil.Process(proc.pid)
    peak = peak_top = peak_children = 0
    while proc.poll() is None:
        try:  # PSS: a page the forked workers share with the parent is counted once in all
            own = top.memory_full_info().pss
            children = sum(p.memory_full_info().pss for p in top.children(recursive=True))
        except psutil.Error:
            continue
        peak, peak_top = max(peak, own + children), max(peak_top, own)
        peak_children = max(peak_children, children)
        time.sleep(0.02)
    out = proc.stdout.read() if proc.stdout else b""
    if proc.returncode != 0:
        raise SystemExit(f"{mode} on {project.name} failed (exit {proc.returncode})")
    figures = json.loads(out.decode().strip().splitlines()[-1])
    figures["peak_mib"] = peak / 2**20
    figures["peak_parent_mib"] = peak_top / 2**20
    figures["peak_children_mib"] = peak_children / 2**20
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--pages", type=int, default=3, help="pages per document")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, project = args.child
        figures = child_bare(Path(project)) if mode == "bare" else child_doctune(Path(project))
        print(json.dumps(figures))
        return

    tmp = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        for docs in args.docs:
            t0 = time.perf_counter()
            projects = {w: make_project(tmp, docs, args.pages, w) for w in (1, 2)}
            made = time.perf_counter() - t0
            print(f"{docs} documents x {args.pages} pages written in {made:.1f} s", flush=True)
            runs = {}
            for name, mode, project in (
                ("bare pypdfium2", "bare", projects[1]),
                ("doctune workers=1", "w1", projects[1]),
                ("doctune workers=2", "w2", projects[2]),
            ):
                load = os.getloadavg()[0]
                runs[name] = fig = measure(mode, project)
                report(docs, name, fig, runs["bare pypdfium2"], load)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(docs: int, name: str, fig: dict, bare: dict, load: float) -> None:
    rate = fig["pages"] / fig["seconds"]
    ratio = rate / (bare["pages"] / bare["seconds"])
    cpu_ratio = (fig["cpu"] / fig["pages"]) / (bare["cpu"] / bare["pages"])
    extra = f", {fig['chunks']} chunks" if "chunks" in fig else ""
    if fig.get("cpu_readers"):  # the reading processes' CPU, and the per page ratio of the one
        readers = fig["cpu_readers"]
        read_ratio = (readers / fig["pages"]) / (bare["cpu"] / bare["pages"])
        extra += f"; CPU of the stage's process {fig['cpu'] - readers:.2f} s, readers "
        extra += f"{readers:.2f} s (x{read_ratio:.2f} of bare's per page)"
    print(
        f"{docs:>5} docs  {name:<18} {fig['pages']:>5} pages {fig['seconds']:6.2f} s "
        f"= {rate:6.1f} pages/s x{ratio:.2f} of bare; CPU {fig['cpu']:5.2f} s "
        f"(x{cpu_ratio:.2f} of bare's per page); peak PSS "
        f"{fig['peak_mib']:5.1f} MiB (parent {fig['peak_parent_mib']:5.1f}, children "
        f"{fig['peak_children_mib']:5.1f}); load before {load:.1f}{extra}",
        flush=True,
    )


if __name__ == "__main__":
    main()

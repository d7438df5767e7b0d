"""Reruns redo only what changed: calls, seconds and split moves on the example, in one run.

A copy of examples/ibuprofen (its doctune.yaml as it is: judge filter off) runs `doctune run
PROJECT --until export` four times in a fresh process each (imports count, as for a user), with
the loopback FakeOpenAIServer as teacher (OPENAI_BASE_URL) and the hub offline:
1. first run; 2. unchanged rerun; 3. one sentence appended to procedure_nickel_route.md;
4. one new Markdown document added. For 3 and 4: the calls as a % of the first run's, by stage
(from the schema each request asks for), and the records of the other documents (their
provenance names no touched file) that changed split, left the splits or entered them; for 4
also the synthesized records of the other documents that went or came, and the share of both
in distillation topics the new document also names (which may move: see the recipe's doc).

    python benchmarks/rerun_after_edit.py

Measured here (2 cores shared with other jobs, load average 0.41-0.46, 2026-12-02, one run of
this script after the openai SDK became a first-request import and codehash's per-file table
on disk; child processes write bytecode as an installed package has it):
    first run: 2.96 s, 635 calls (synthesize 440, evalsets 195)
    rerun, unchanged: 0.43 s, 0 calls (the SDK is never imported)
    rerun, one sentence appended: 1.59 s, 3 calls = 0.5 % of the first run's (synthesize 1,
        evalsets 2); of the 91 records of the other documents 0 changed split, 0 left, 0 entered.
        Of the 1.6 s about 0.5 s is the openai SDK's import, which the 3 misses need, and 0.2 s
        bm25s with scipy for distillation's index; the stage fingerprints now cost ~0.03 s
        (0.3 s when every module was parsed)
    rerun, one document added: 1.88 s, 103 calls = 16.2 % (synthesize 92, evalsets 11); of
        the 139 records of the other documents 1 changed split, 7 left the splits and 16 entered:
        synthesize re-plans the distillation questions of every document when one is added (its
        cells divide target_size over the documents), so the other documents get new records.
    After split places groups it cannot cut well whole (1a8d2f0, one run, load ~1 after CI):
    first run 3.25 s, 663 calls (synthesize 440, evalsets 223: more records survive split, so
    more rephrasings); unchanged 0.39 s, 0 calls; one sentence appended 1.55 s, 3 calls = 0.5 %,
    of the 147 records of the other documents 0 changed split, 0 left, 0 entered; one document
    added 1.81 s, 120 calls = 18.1 %, of the other documents' 195 records 17 changed split, 25
    left and 41 entered: the re-planned distillation records join the other documents' groups,
    and a group whose records change may be placed whole where it was cut (or the reverse).
    Before these two changes, at load 0.52 the same day: 1.71 s edited, 0.65 s unchanged,
    2.07 s added (earlier figures, under heavier load: 2.2-4.0 s edited, 0.8-1.9 s unchanged).
    After distillation's topics got a home document (context from the home's own BM25 index,
    extras dealt by cell hash; one run, load 4.1-4.5 from other jobs, so seconds are slow):
    first run 5.77 s, 639 calls (synthesize 441, evalsets 198); unchanged 0.64 s, 0 calls; one
    sentence appended 2.52 s, 3 calls = 0.5 %, of the 129 records of the other documents 0
    changed split, 0 left, 0 entered; one document added 3.70 s, 126 calls = 19.7 % (synthesize
    93: the new document's topic list, 2 pdf_synthetic calls, 45 calls for its own topic, and
    45 for the one topic it shares with substances.csv, whose home it became: for a topic one
    document names that happens with probability 1/2; evalsets 33). Of the 551 synthesized
    records of the other documents 0 came and 40 went, all 40 of that shared topic (before:
    40 went and 80 came, from the pdf and the patent). Of the 182 records of the other
    documents in the splits: 10 left with that topic; 4 left and 2 entered through curate's
    near-duplicate check, which keeps the lowest id of identical questions (the fake's questions
    quote the prompt's instructions, so the new document's records repeat old ones); and 18
    changed split because the 10 were the test split's only group of distillation records
    (6 groups in all after curate), so split's rescue of an empty split moved the smallest
    validation group there. Nothing moved for any other reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from doctune.generation.recipes.distillation_plan import topic_key
from doctune.testing.fake_openai import FakeOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ibuprofen"
EDITED = "procedure_nickel_route.md"
ADDED = "crystallisation_notes.md"
SENTENCE = "\nThe filtrate is cooled to 5 °C and held for 30 minutes before filtration.\n"
NEW_DOC = """# Crystallisation of ibuprofen

## Solvent choice

Crude ibuprofen is recrystallised from heptane at a ratio of 4 mL per gram of crude acid.
The suspension is heated to 70 °C until the solid dissolves completely.

## Cooling profile

The solution is cooled at 10 °C per hour to 20 °C, then held at 5 °C for two hours.
The crystals are filtered, washed with cold heptane and dried at 40 °C under vacuum.
The recovery is 91 % and the melting point of the product is 75-77 °C.
"""
STAGE_OF = {
    "QAPairs": "synthesize",
    "TopicOverview": "synthesize",
    "FacetQuestions": "synthesize",
    "KDAnswer": "synthesize",
    "Rephrasings": "evalsets",
    "Quizzes": "evalsets",
    "QualityJudgement": "curate",
}


def splits_of(out: Path) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    """record id -> (split, the documents its provenance names, its topic), over every recipe."""
    found = {}
    for path in sorted((out / "split").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            found[r["id"]] = (path.stem, tuple(r["provenance"].get("sources") or ()), r["topic"])
    return found


def synthesized(out: Path) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    """What synthesize wrote, as `splits_of` gives it (the split is "synthesized")."""
    found = {}
    for path in sorted((out / "synthesize").glob("*.jsonl")):
        if path.name.endswith(".rejected.jsonl"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            sources = tuple(r["provenance"].get("sources") or ())
            found[r["id"]] = ("synthesized", sources, r.get("topic"))
    return found


def topics_naming(out: Path, document: str) -> set[str]:
    """Distillation's topics (by merge key) that `document` lists, from the stage's topic tree."""
    path = out / "synthesize" / "knowledge_distillation.topics.json"
    tree = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {topic_key(t["name"]) for ts in tree.values() for t in ts if document in t["documents"]}


def run(project: Path, server: FakeOpenAIServer, env: dict[str, str]) -> tuple[float, Counter]:
    start = len(server.bodies)
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "doctune.cli", "run", str(project), "--until", "export"],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    by_stage: Counter = Counter()
    for body in server.bodies[start:]:
        name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        by_stage[STAGE_OF.get(name, name or "plain")] += 1
    return seconds, by_stage


def moves(before: dict, after: dict, touched: str, shared: set[str] = frozenset()) -> dict:
    """Records of the other documents (provenance names no touched file) that changed split,
    left the splits or entered them; `shared`: topics the touched file also names, whose
    records are counted apart as well (the recipe's doc says when those may change)."""

    def other(sources: tuple[str, ...]) -> bool:
        return not any(s.split("#")[0] == touched for s in sources)

    old = {i: (s, t) for i, (s, src, t) in before.items() if other(src)}
    new = {i: (s, t) for i, (s, src, t) in after.items() if other(src)}

    def count(keep: Callable[[str | None], bool]) -> dict[str, int]:
        o = {i: s for i, (s, t) in old.items() if keep(t)}
        n = {i: s for i, (s, t) in new.items() if keep(t)}
        return {
            "other_records": len(o),
            "changed_split": sum(1 for i in o if i in n and n[i] != o[i]),
            "left_splits": sum(1 for i in o if i not in n),
            "entered_splits": sum(1 for i in n if i not in o),
        }

    def in_shared(topic: str | None) -> bool:
        return topic is not None and topic_key(topic) in shared

    return {**count(lambda t: True), "in_shared_topics": count(in_shared)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as server:
        project = Path(tmp) / "ibuprofen"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("out*"))
        env = {
            # Bytecode is written as an installed package has it (a sandbox's
            # PYTHONDONTWRITEBYTECODE would recompile doctune's modules on every run, ~0.1 s).
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sk-fake-benchmark",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DOCTUNE_NO_PROGRESS": "1",
        }
        out = project / "out"
        rows = []
        seconds, calls = run(project, server, env)
        first = sum(calls.values())
        rows.append(("first run", seconds, calls, None))
        seconds, calls = run(project, server, env)
        rows.append(("rerun, unchanged", seconds, calls, None))
        before = splits_of(out)
        doc = project / "documents" / EDITED
        doc.write_text(doc.read_text(encoding="utf-8") + SENTENCE, encoding="utf-8")
        seconds, calls = run(project, server, env)
        after = splits_of(out)
        rows.append(("rerun, one sentence appended", seconds, calls, moves(before, after, EDITED)))
        written = synthesized(out)
        (project / "documents" / ADDED).write_text(NEW_DOC, encoding="utf-8")
        seconds, calls = run(project, server, env)
        shared = topics_naming(out, ADDED)
        added = moves(after, splits_of(out), ADDED, shared)
        added["synthesized"] = moves(written, synthesized(out), ADDED, shared)
        rows.append(("rerun, one document added", seconds, calls, added))
    report(rows, first)


def report(rows: list, first: int) -> None:
    for label, seconds, calls, moved in rows:
        total = sum(calls.values())
        share = f" = {100 * total / first:.1f} % of the first run's" if first else ""
        stages = ", ".join(f"{k} {v}" for k, v in sorted(calls.items())) or "none"
        print(f"{label}: {seconds:.2f} s, {total} calls{share} ({stages})")
        if moved:
            print(
                f"    records of the other documents: {moved['other_records']}, "
                f"changed split {moved['changed_split']}, left the splits "
                f"{moved['left_splits']}, entered {moved['entered_splits']}"
            )
            if "synthesized" in moved:
                made, part = moved["synthesized"], moved["synthesized"]["in_shared_topics"]
                print(
                    f"    synthesized records of the other documents: {made['other_records']}, "
                    f"gone {made['left_splits']}, new {made['entered_splits']} (in topics the "
                    f"new document also names: gone {part['left_splits']}, "
                    f"new {part['entered_splits']})"
                )
            if moved.get("in_shared_topics", {}).get("other_records"):
                part = moved["in_shared_topics"]
                print(
                    f"    of them in distillation topics the new document also names: "
                    f"{part['other_records']}, changed split {part['changed_split']}, "
                    f"left {part['left_splits']}, entered {part['entered_splits']}"
                )


if __name__ == "__main__":
    main()

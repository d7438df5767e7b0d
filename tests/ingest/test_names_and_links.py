"""File names reach the console as text, never as terminal control (newlines, ESC sequences,
Rich markup), and symlinks that lead nowhere are reported, one line each."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from doctune.context import RunContext
from doctune.foundation.display import console_text, printable
from doctune.ingest import stage as ingest_stage

MD = "# Notes\n\n" + "\n\n".join(
    f"Paragraph {i}: the reaction runs at {40 + i} °C for {i + 2} h in toluene." for i in range(6)
)


def printed(ctx: RunContext) -> str:
    return ctx.console.file.getvalue()  # type: ignore[attr-defined]


def test_control_characters_are_escaped() -> None:
    assert printable("a\nb\x1b[2Jc\td\u202ee") == "a\\nb\\x1b[2Jc\\td\\u202ee"
    assert printable("Ibuprofen – résumé 日本語.pdf") == "Ibuprofen – résumé 日本語.pdf"
    assert console_text("[bold]x\r") == "\\[bold]x\\r"


def test_a_hostile_file_name_prints_as_one_escaped_line(make_project) -> None:
    name = "evil\n[ok] done\x1b[31m.md"
    ctx = make_project({name: "   ", "good.md": MD})
    asyncio.run(ingest_stage.run(ctx))
    out = printed(ctx)
    lines = [ln for ln in out.splitlines() if "evil" in ln]
    assert lines == ["ingest: evil\\n[ok] done\\x1b[31m.md: no text found"]
    assert "\x1b" not in out
    report = json.loads((ctx.out_dir / "ingest" / "report.json").read_text())
    assert name in {f["path"] for f in report["files"]}  # the report keeps the real name


def test_symlink_loops_and_broken_links_are_one_line_each(make_project) -> None:
    ctx = make_project({"a/notes.md": MD})
    docs = ctx.documents_dir
    os.symlink("..", docs / "a" / "up")  # a folder linking to its parent: a loop
    os.symlink("loop2", docs / "loop1")  # two links pointing at each other
    os.symlink("loop1", docs / "loop2")
    os.symlink("missing.md", docs / "gone.md")
    outside = ctx.project_dir.parent / "shared"
    outside.mkdir()
    (outside / "extra.md").write_text(MD + "\n\nShared folder text.")
    os.symlink(outside, docs / "shared")  # a linked folder is followed
    files, problems = ingest_stage.scan_documents(docs, ctx.config.ingest)
    assert [rel for rel, _ in files] == ["a/notes.md", "shared/extra.md"]
    assert dict(problems) == {
        "a/up": "symlink loop (links back to a folder above it), skipped",
        "gone.md": "broken symlink (to missing.md), skipped",
        "loop1": "symlink loop, skipped",
        "loop2": "symlink loop, skipped",
    }
    result = asyncio.run(ingest_stage.run(ctx))
    out = printed(ctx)
    for rel in ("a/up", "gone.md", "loop1", "loop2"):
        assert sum(1 for ln in out.splitlines() if ln.startswith(f"ingest: {rel}: ")) == 1
    assert result.summary["skipped"] == 4 and result.summary["ok"] == 2


def test_a_loop_through_a_linked_folder_ends(make_project, tmp_path: Path) -> None:
    ctx = make_project({"notes.md": MD})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    os.symlink(ctx.documents_dir, outside / "back")  # documents/ext/back -> documents
    os.symlink(outside, ctx.documents_dir / "ext")
    files, problems = ingest_stage.scan_documents(ctx.documents_dir, ctx.config.ingest)
    assert [rel for rel, _ in files] == ["notes.md"]
    assert [rel for rel, _ in problems] == ["ext/back"]


def test_every_stage_message_is_console_safe(make_project) -> None:
    ctx = make_project({"good.md": MD})
    ctx.log("[bold]train[/]: log in /tmp/run\x1b]0;owned\x07/worker.log")
    assert printed(ctx).strip() == "train: log in /tmp/run\\x1b]0;owned\\x07/worker.log"

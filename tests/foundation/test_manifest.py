from pathlib import Path

import pytest

from doctune.foundation.codehash import code_version
from doctune.foundation.errors import InputError
from doctune.foundation.jsonl import read_jsonl, write_jsonl
from doctune.foundation.manifest import Manifest
from doctune.foundation.records import Provenance, QARecord


def record(i: int) -> QARecord:
    return QARecord(
        id=f"r{i}",
        recipe="pdf_synthetic",
        question=f"q{i}?",
        answer=f"a{i}",
        provenance=Provenance(),
    )


def test_artifacts_round_trip_and_up_to_date(tmp_path: Path) -> None:
    m = Manifest(tmp_path)
    write_jsonl(tmp_path / "synthesize" / "a.jsonl", [record(1), record(2)])
    art = m.artifact("synthesize", "dataset", "synthesize/a.jsonl", recipe="pdf_synthetic")
    assert art.records == 2 and art.path == "synthesize/a.jsonl" and len(art.sha256) == 64
    m.replace_stage("synthesize", [art], "fp1")
    again = Manifest(tmp_path)
    assert again.one("dataset", recipe="pdf_synthetic").sha256 == art.sha256
    assert again.is_up_to_date("synthesize", "fp1")
    assert not again.is_up_to_date("synthesize", "fp2")
    # A changed output is not up to date, whatever the fingerprint says.
    write_jsonl(tmp_path / "synthesize" / "a.jsonl", [record(3)])
    assert not again.is_up_to_date("synthesize", "fp1")


def test_one_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no artifact of kind 'quiz'"):
        Manifest(tmp_path).one("quiz")


def test_replace_stage_drops_only_that_stage(tmp_path: Path) -> None:
    m = Manifest(tmp_path)
    for stage in ("a", "b"):
        write_jsonl(tmp_path / f"{stage}.jsonl", [record(1)])
    m.replace_stage("a", [m.artifact("a", "dataset", "a.jsonl")], "x")
    m.replace_stage("b", [m.artifact("b", "dataset", "b.jsonl")], "y")
    m.replace_stage("a", [], "z")
    assert [a.stage for a in m.data.artifacts] == ["b"]


def test_read_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(record(1).model_dump_json() + "\n" + '{"id": "r2"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.jsonl:2: "):
        read_jsonl(path, QARecord)


def test_torn_tail_is_tolerated_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(record(1).model_dump_json() + "\n" + '{"id": "r2", "reci', encoding="utf-8")
    assert [r.id for r in read_jsonl(path, QARecord, tolerate_torn_tail=True)] == ["r1"]
    with pytest.raises(InputError):
        read_jsonl(path, QARecord)


def test_code_version_depends_on_the_named_code_only() -> None:
    assert code_version("doctune.models") == code_version("doctune.models")
    assert code_version("doctune.models") != code_version("doctune.ingest")

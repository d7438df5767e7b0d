"""Synthesis throughput against a loopback server with fixed latency, and cache-hit overhead.

    python benchmarks/synthesis_throughput.py [--chunks 640] [--latency 0.25] [--concurrency 32]

The ideal rate of a client that keeps `concurrency` requests in flight against a server that takes
`latency` seconds per request is concurrency / latency calls per second; the benchmark reports the
achieved rate as a ratio of that ideal (target >= 0.90 at concurrency 32). It then runs the same
synthesis again with every call in the cache and reports the overhead per record (target < 1 ms).
The code path is the real one: `pdf_synthetic.generate` -> ModelClient -> OpenAIBackend -> HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doctune.foundation.config import ModelSettings, PdfSyntheticConfig
from doctune.foundation.records import Chunk, stable_id, text_sha256
from doctune.generation.common import Teacher
from doctune.generation.recipes import pdf_synthetic
from doctune.models.cache import CallCache
from doctune.models.client import ModelClient
from doctune.models.openai import OpenAIBackend
from doctune.models.spec import parse_spec

SENTENCES = [
    "Isobutylbenzene is brominated at 30-40 °C with a molar ratio of isobutylbenzene to bromine of 1:1.05.",
    "The nickel-catalysed coupling with methyl 2-chloropropionate runs at 40 °C for 12 h under nitrogen.",
    "Hydrolysis of the methyl ester proceeds at 20-40 °C and the acid precipitates at pH 1-2.",
    "The BHC route needs three catalytic steps and reaches an atom economy of about 77 %.",
    "Raney nickel hydrogenates 4-isobutylacetophenone to the alcohol at 5 bar and 70 °C.",
]


def make_chunks(n: int) -> list[Chunk]:
    chunks = []
    for i in range(n):
        text = f"Section {i}. " + " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(4))
        chunks.append(
            Chunk(
                id=stable_id("bench", i),
                doc_id="bench",
                path="bench.txt",
                index=i,
                text=text,
                pages=[],
                section=None,
                start=0,
                end=len(text),
                n_tokens=len(text) // 4,
                sha256=text_sha256(text),
            )
        )
    return chunks


async def synthesize(
    base_url: str, cache_path: Path, chunks: list[Chunk], concurrency: int
) -> tuple[float, int, int]:
    settings = ModelSettings(base_url=base_url, api_key="bench")
    backend = OpenAIBackend(parse_spec("openai:bench"), settings, timeout_s=30, max_retries=3)
    cache = CallCache(cache_path)
    client = ModelClient(
        backend, settings=settings, cache=cache, concurrency=concurrency, stage="bench"
    )
    teacher = Teacher(
        spec=client.spec,
        temperature=0.7,
        seed=0,
        max_new_tokens=1024,
        config_hash="bench",
        client=client,
    )
    started = time.perf_counter()
    output = await pdf_synthetic.generate(
        chunks, PdfSyntheticConfig(questions_per_chunk=3), teacher
    )
    elapsed = time.perf_counter() - started
    await client.aclose()
    cache.close()
    return elapsed, len(output.records), client.ledger.totals().cache_hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=640)
    parser.add_argument("--latency", type=float, default=0.25, help="server latency per request, s")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    chunks = make_chunks(args.chunks)
    # The server runs in its own process: a thread here would share the client's GIL and measure
    # the server's cost as the client's.
    server = subprocess.Popen(
        [sys.executable, "-m", "doctune.testing.fake_openai", "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().strip()  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            cache_path = Path(tmp) / "calls.sqlite"
            cold, records, _ = asyncio.run(
                synthesize(base_url, cache_path, chunks, args.concurrency)
            )
            calls = len(chunks)
            warm, warm_records, hits = asyncio.run(
                synthesize(base_url, cache_path, chunks, args.concurrency)
            )
            assert warm_records == records and hits == calls, "the cached rerun reached the server"
    finally:
        server.terminate()
        server.wait()

    ideal = args.concurrency / args.latency
    achieved = calls / cold
    print(
        f"calls: {calls} ({records} records), latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}"
    )
    print(
        f"throughput: {achieved:.1f} calls/s; ideal {ideal:.1f} calls/s; ratio {achieved / ideal:.3f} (target >= 0.90)"
    )
    per_record_ms = warm / records * 1000
    print(
        f"cached rerun: {warm:.3f} s for {records} records; overhead {per_record_ms:.3f} ms/record (target < 1 ms)"
    )


if __name__ == "__main__":
    main()

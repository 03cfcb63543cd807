#!/usr/bin/env python3
"""nDCG@10 of /search (BM25) and /semantic_search on Cranfield, through the HTTP API.

Indexes every document of corpus.jsonl with POST /bulk_set (key "cran:<_id>", value its text),
runs each query of queries.jsonl with k=100 and scores nDCG@10 against qrels.tsv (gain = grade,
log2 discount, ideal from the judged grades; queries without judgments are skipped) -- the same
measure as `cargo run --release -p kvstore-search --example cranfield_eval`.

    scripts/cranfield_eval.py http://127.0.0.1:8080 [DATA_DIR] [--no-index]

DATA_DIR defaults to $CRANFIELD_DIR, then ../shared/data/cranfield beside the repository.
Standard library only. Exits non-zero on any HTTP error.
"""
import json
import math
import os
import sys
import time
import urllib.parse
import urllib.request

BATCH = 200
K = 100


def call(url, method="GET", body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read().decode())


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 3:
                qrels.setdefault(parts[0], {})[parts[1]] = float(parts[2])
    return qrels


def ndcg_at(ranked, judged, k=10):
    dcg = sum(judged.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(judged.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def ids(answer):
    return [r["key"][len("cran:"):] if r["key"].startswith("cran:") else r["key"]
            for r in answer["results"]]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    base = args[0].rstrip("/")
    here = os.path.dirname(os.path.abspath(__file__))
    data = (args[1] if len(args) > 1 else os.environ.get("CRANFIELD_DIR")
            or os.path.join(here, "..", "..", "shared", "data", "cranfield"))
    corpus = read_jsonl(os.path.join(data, "corpus.jsonl"))
    queries = read_jsonl(os.path.join(data, "queries.jsonl"))
    qrels = read_qrels(os.path.join(data, "qrels.tsv"))

    if "--no-index" not in sys.argv:
        t = time.time()
        for i in range(0, len(corpus), BATCH):
            items = [["cran:" + d["_id"], d["text"]] for d in corpus[i:i + BATCH]]
            call(base + "/bulk_set", "POST", {"items": items})
        secs = time.time() - t
        print(f"indexed {len(corpus)} documents in {secs:.2f} s ({len(corpus) / secs:.0f} docs/s)")

    bm25 = sem = 0.0
    n = 0
    t = time.time()
    for q in queries:
        judged = qrels.get(q["_id"])
        if not judged:
            continue
        # Natural-language queries: quotes and stars are not meant as operators here.
        text = q["text"].replace('"', " ").replace("*", " ")
        qs = urllib.parse.urlencode({"q": text, "k": K})
        bm25 += ndcg_at(ids(call(f"{base}/search?{qs}")), judged)
        sem += ndcg_at(ids(call(f"{base}/semantic_search?{qs}")), judged)
        n += 1
    per_q = (time.time() - t) * 1000 / max(n, 1)
    n = max(n, 1)
    print(f"queries judged: {n}  ({per_q:.1f} ms per query for both searches, over HTTP)")
    print(f"nDCG@10 /search (BM25):                 {bm25 / n:.4f}   (reference 0.355)")
    print(f"nDCG@10 /semantic_search (potion-2M):   {sem / n:.4f}   (reference 0.238)")


if __name__ == "__main__":
    main()

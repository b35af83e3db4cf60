#!/usr/bin/env python3
"""Writes the example's data: data/passages.jsonl, help-centre passages with their embeddings, one
JSON object per line as `mlinfra vectors upsert` reads them ({"id", "vector", "metadata",
"document"}). Standard library only; the same seed gives the same file.

The embedding is feature hashing of the passage's words into 64 dimensions, L2-normalised: a
lexical embedding that needs no model download, so passages sharing words with a query are near
it under the cosine metric. `embed.py` embeds a query the same way.

usage: python3 generate.py [--passages N] [--seed S]
"""
import argparse
import json
import os
import random

from embed import embed

TOPICS = {
    "billing": ["invoice", "charge", "card", "payment", "plan", "receipt", "subscription", "tax"],
    "shipping": ["delivery", "courier", "tracking", "parcel", "address", "days", "express", "customs"],
    "returns": ["refund", "return", "label", "exchange", "damaged", "policy", "warehouse", "credit"],
    "security": ["password", "login", "two-factor", "device", "session", "reset", "phishing", "lock"],
    "api": ["token", "endpoint", "rate", "limit", "webhook", "sdk", "request", "key"],
}
COMMON = ["how", "to", "your", "account", "the", "a", "can", "you", "when", "our", "team", "help"]

parser = argparse.ArgumentParser()
parser.add_argument("--passages", type=int, default=500)
parser.add_argument("--seed", type=int, default=7)
args = parser.parse_args()
rng = random.Random(args.seed)
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "data"), exist_ok=True)

with open(os.path.join(here, "data", "passages.jsonl"), "w") as f:
    for i in range(args.passages):
        topic = rng.choice(sorted(TOPICS))
        words = [rng.choice(TOPICS[topic]) for _ in range(rng.randint(6, 14))] + [rng.choice(COMMON) for _ in range(rng.randint(4, 10))]
        rng.shuffle(words)
        text = " ".join(words).capitalize() + "."
        record = {
            "id": f"p{i:05d}",
            "vector": embed(text),
            "metadata": {"topic": topic, "year": rng.randint(2019, 2026), "words": len(words)},
            "document": text,
        }
        f.write(json.dumps(record) + "\n")

print(f"wrote data/passages.jsonl ({args.passages} passages, 64 dimensions)")

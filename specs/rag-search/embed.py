#!/usr/bin/env python3
"""Embeds a text as generate.py embeds passages, and prints the vector as JSON for
`mlinfra vectors query --vector`.

usage: python3 embed.py "how do I get a refund"
"""
import hashlib
import json
import math
import re
import sys

DIMENSION = 64
# Words that say nothing about a passage's subject; left out so they do not pull unrelated passages together.
STOPWORDS = {"a", "an", "the", "how", "do", "i", "to", "your", "my", "account", "can", "you", "when", "our", "team", "help", "for", "is", "of"}


def embed(text):
    vector = [0.0] * DIMENSION
    for word in re.findall(r"[a-z0-9-]+", text.lower()):
        if word in STOPWORDS:
            continue
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % DIMENSION
        vector[index] += 1.0 if digest[4] % 2 == 0 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


if __name__ == "__main__":
    print(json.dumps(embed(" ".join(sys.argv[1:]))))

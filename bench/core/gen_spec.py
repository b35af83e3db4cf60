#!/usr/bin/env python3
"""Writes a spec of N `item` resources for the test `disk` provider (bench/core)."""
import sys

count, latency, echo = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "echo"
lines = ["mlinfra: 1", "project: bench", "providers:",
         f"  disk: {{ dir: objects, latency: {latency}, echo: {'true' if echo else 'false'} }}", "resources:"]
for i in range(count):
    ref = f', ref: "${{item.r{i - 1}.url}}"' if i % 10 else ""
    lines.append(f'  item.r{i}: {{ size: {i}, label: "item {i}", kind: k{i % 7}, tags: {{ team: ml, shard: "s{i % 16}" }}{ref} }}')
print("\n".join(lines))

#!/usr/bin/env python3
"""Writes DIR/main.yaml calling a module CALLS times, and DIR/mod/main.yaml with N/CALLS `item`
resources: the same resources, references and settings as gen_spec.py writes flat (bench/core)."""
import os
import sys

directory, count, calls, latency, echo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "echo"
per = count // calls
os.makedirs(os.path.join(directory, "mod"), exist_ok=True)
root = ["mlinfra: 1", "project: bench", "providers:",
        f"  disk: {{ dir: objects, latency: {latency}, echo: {'true' if echo else 'false'} }}", "modules:"]
for k in range(calls):
    root.append(f"  m{k}: {{ source: ./mod, inputs: {{ shard: {k} }} }}")
with open(os.path.join(directory, "main.yaml"), "w") as f:
    f.write("\n".join(root) + "\n")
module = ["variables:", "  shard: { type: int }", "resources:"]
for i in range(per):
    ref = f', ref: "${{item.r{i - 1}.url}}"' if i % 10 else ""
    module.append(f'  item.r{i}: {{ size: {i}, label: "item ${{var.shard}}-{i}", kind: k{i % 7}, '
                  f'tags: {{ team: ml, shard: "s${{var.shard}}" }}{ref} }}')
with open(os.path.join(directory, "mod", "main.yaml"), "w") as f:
    f.write("\n".join(module) + "\n")

"""Peer figure: PyYAML's CSafeLoader (libyaml's C parser + PyYAML's constructor) on the same files.

Usage: python pyyaml_peer.py /tmp/yaml-bench/100k-resources.yaml /tmp/yaml-bench/10mb.yaml
"""
import statistics
import sys
import time

import yaml

for path in sys.argv[1:]:
    data = open(path, "rb").read()
    times, cpu_times = [], []
    for _ in range(5):
        start, cpu = time.perf_counter(), time.process_time()
        yaml.load(data, Loader=yaml.CSafeLoader)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu)
    print(f"{path}: {len(data)} bytes  wall median {statistics.median(times) * 1000:.1f} ms (min {min(times) * 1000:.1f})"
          f"  cpu median {statistics.median(cpu_times) * 1000:.1f} ms  (PyYAML {yaml.__version__}, libyaml={yaml.__with_libyaml__})")

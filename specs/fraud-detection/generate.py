#!/usr/bin/env python3
"""Writes the example's data: data/customer_stats.csv (the feature view's source, one row per
customer, event times in the last 30 days) and data/reference.csv (the training sample the drift
monitor compares live traffic with). Standard library only; the same seed gives the same files.

usage: python3 generate.py [--customers N] [--seed S]
"""
import argparse
import os
import random
import time

parser = argparse.ArgumentParser()
parser.add_argument("--customers", type=int, default=1000)
parser.add_argument("--seed", type=int, default=42)
args = parser.parse_args()
rng = random.Random(args.seed)
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "data"), exist_ok=True)
now = int(time.time())


def customer():
    transactions = max(0, int(rng.gauss(40, 15)))
    amount = round(max(1.0, rng.lognormvariate(3.5, 0.6)), 2)
    age = rng.randint(1, 3650)
    return transactions, amount, age


with open(os.path.join(here, "data", "customer_stats.csv"), "w") as f:
    f.write("customer_id,event_timestamp,total_transactions_30d,avg_transaction_amount_30d,account_age_days\n")
    for cid in range(1, args.customers + 1):
        t, a, d = customer()
        f.write(f"{cid},{now - rng.randint(60, 30 * 86400)},{t},{a},{d}\n")

with open(os.path.join(here, "data", "reference.csv"), "w") as f:
    f.write("total_transactions_30d,avg_transaction_amount_30d,account_age_days\n")
    for _ in range(2000):
        t, a, d = customer()
        f.write(f"{t},{a},{d}\n")

print(f"wrote data/customer_stats.csv ({args.customers} customers) and data/reference.csv (2000 rows)")

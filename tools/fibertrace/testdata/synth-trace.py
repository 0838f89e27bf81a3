#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
#
# Write a synthetic but realistic libfiber trace, in the format FIBER_TRACE
# writes: NPS Ps running fibers, NMS Ms holding them and making system calls,
# one read that blocks in the kernel (blocked, claim, hold, grant), and the
# scheduler's instants and flows.  For fiber-trace-png's test and example.
#
# usage: synth-trace.py [--ps N] [--ms N] [--fibers N] [--us SPAN] [--seed N] OUT.json
"""Write a synthetic libfiber trace."""

import argparse
import json
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ps", type=int, default=4)
    ap.add_argument("--ms", type=int, default=6)
    ap.add_argument("--fibers", type=int, default=36)
    ap.add_argument("--us", type=float, default=2000.0, help="time span in us")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("out")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    ev = []
    base = 5_000_000.0     # CLOCK_MONOTONIC in us: a trace does not start at 0

    def meta(pid, name, sort):
        ev.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}})
        ev.append({"ph": "M", "name": "process_sort_index", "pid": pid,
                   "args": {"sort_index": sort}})

    meta(1, "Ps", 1)
    meta(2, "Ms (threads)", 2)
    for p in range(a.ps):
        ev.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": p,
                   "args": {"name": f"P{p}"}})
    for m in range(a.ms):
        ev.append({"ph": "M", "name": "thread_name", "pid": 2, "tid": m,
                   "args": {"name": f"M{m} tid {4100 + m}"}})

    def x(pid, tid, ts, dur, name, cat, args=None):
        e = {"ph": "X", "pid": pid, "tid": tid, "ts": round(base + ts, 3),
             "dur": round(dur, 3), "name": name, "cat": cat}
        if args:
            e["args"] = args
        ev.append(e)

    def inst(pid, tid, ts, name, cat, args=None):
        e = {"ph": "i", "s": "t", "pid": pid, "tid": tid, "ts": round(base + ts, 3),
             "name": name, "cat": cat}
        if args:
            e["args"] = args
        ev.append(e)

    span = a.us
    # The blocking read: M1 (holding P1) enters read() at 30% of the span.
    blk_m, blk_p = 1, 1
    b0 = span * 0.30
    b1 = span * 0.55
    claim_at = b0 + span * 0.02
    grant_at = span * 0.65
    spare = min(4, a.ms - 1)
    # Who holds each P when: [(m, from, to)]
    holders = {p: [(p % a.ms, 0.0, span)] for p in range(a.ps)}
    if a.ps > blk_p and a.ms > spare:
        holders[blk_p] = [(blk_m, 0.0, claim_at), (spare, claim_at, grant_at),
                          (blk_m, grant_at, span)]

    flow_id = 1
    ends = []              # fibers that were readied: (ts, p) to start later
    for p in range(a.ps):
        for m, h0, h1 in holders[p]:
            x(2, m, h0, h1 - h0, f"P{p}", "m")
            t = h0 + rnd.uniform(0.5, 3)
            while t < h1 - 2:
                if p == blk_p and m == blk_m and h0 == 0.0 and t > b0 - 45:
                    break
                fid = rnd.randrange(1, a.fibers + 1)
                dur = min(rnd.choice((4, 8, 12, 20, 35, 60)) * rnd.uniform(0.6, 1.4),
                          h1 - t - 1)
                end = rnd.choice(("park", "park", "yield", "exit", "preempt"))
                reason = {"park": rnd.choice(("chan receive", "chan send", "mutex",
                                              "sleep")), }.get(end, "")
                args = {"fiber": fid, "end": end}
                if reason:
                    args["reason"] = reason
                if p == blk_p and m == blk_m and h0 == 0.0:
                    dur = min(dur, b0 - 41 - t)
                x(1, p, t, dur, f"fiber {fid}", "fiber", args)
                # A short system call now and then, on the M, inside the run.
                if dur > 10 and rnd.random() < 0.35:
                    s0 = t + dur * rnd.uniform(0.2, 0.6)
                    x(2, m, s0, rnd.uniform(1, 4), "syscall", "syscall", {"fiber": fid})
                # Readying another fiber, which starts soon on some P.
                if rnd.random() < 0.25:
                    r = t + dur * rnd.uniform(0.3, 0.9)
                    nf = rnd.randrange(1, a.fibers + 1)
                    inst(1, p, r, "ready", "sched", {"fiber": nf})
                    q = rnd.randrange(a.ps)
                    tgt = r + rnd.uniform(8, 40)
                    ev.append({"ph": "s", "id": flow_id, "pid": 1, "tid": p,
                               "ts": round(base + r, 3), "name": "ready", "cat": "flow"})
                    ev.append({"ph": "f", "bp": "e", "id": flow_id, "pid": 1, "tid": q,
                               "ts": round(base + tgt, 3), "name": "ready", "cat": "flow"})
                    flow_id += 1
                if rnd.random() < 0.05:
                    inst(1, p, t, "steal", "sched", {"from": rnd.randrange(a.ps)})
                if rnd.random() < 0.04:
                    inst(1, p, t, "create", "sched", {"fiber": rnd.randrange(1, a.fibers + 1)})
                t += dur + rnd.choice((0.3, 0.5, 1, 2, 6))
    # The read that blocks, seen by libfiber and by the module.
    if a.ps > blk_p and a.ms > spare:
        fid = 7
        x(1, blk_p, b0 - 40, 40, f"fiber {fid}", "fiber",
          {"fiber": fid, "end": "syscall", "reason": "read"})
        x(2, blk_m, b0, b1 - b0, "syscall", "syscall", {"fiber": fid, "nr": "read"})
        x(2, blk_m, b0 + 2, b1 - b0 - 4, "blocked", "fiber.ko")
        inst(2, spare, claim_at, "claim", "fiber.ko", {"from": blk_m, "p": blk_p})
        inst(2, blk_m, b1 - 1, "hold", "fiber.ko")
        inst(2, blk_m, grant_at, "grant", "fiber.ko")
        inst(2, spare, grant_at - 0.5, "handoff", "sched", {"to": blk_m})
    # Timers and netpoll on the last M, which holds no P.
    t = rnd.uniform(20, 80)
    while t < span:
        inst(2, a.ms - 1, t, rnd.choice(("timer", "netpoll")), "sched")
        t += rnd.uniform(50, 200)
    rnd.shuffle(ev)
    doc = {"displayTimeUnit": "ns",
           "otherData": {"producer": "libfiber 1.2.0", "clock": "CLOCK_MONOTONIC"},
           "traceEvents": ev}
    with open(a.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(len(ev))


if __name__ == "__main__":
    main()

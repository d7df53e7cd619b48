#!/usr/bin/env python3
"""What a bulk row's per-segment code is made of, from a callgrind profile
taken with --dump-instr=yes (cachesim.sh takes one per row) and the
disassembly of the bench binary (objdump).

    hotpath.py BINARY CALLGRIND_OUT UNITS [--functions N]

Per unit (a bulk row's data segment), counting only the bench binary's own
code (glibc's memcpy is left out):
- instructions in loops (run more than LOOP times per unit: checksum and
  copy loops) and the rest, the straight-line code a segment runs through;
- the loads and stores among the straight-line ones (push/pop and
  call/ret included), and how many of them are push/pop;
- `lock`-prefixed instructions (atomic read-modify-writes);
- the hot code (instructions run at least HOT times per unit): its size
  and the 64-octet lines it spans (what the instruction cache must hold).
"""

import collections
import os
import re
import subprocess
import sys

LOOP = 6.0
HOT = 0.5
LINE = 64


def profile(path, binary):
    """Self instruction count per address of `binary`'s code."""
    costs = collections.Counter()
    base = os.path.basename(binary)
    names = {}
    ob = None
    addr = 0
    skip = False
    npos = 1
    with open(path) as f:
        for raw in f:
            s = raw.rstrip("\n")
            if not s or s[0] == "#":
                continue
            if s.startswith("positions:"):
                npos = len(s.split()) - 1
                continue
            m = re.match(r"c?ob=\((\d+)\)(?: (.*))?", s)
            if m:
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                if s.startswith("ob="):
                    ob = names[m.group(1)]
                continue
            if s.startswith("calls="):
                skip = True  # the next line is the call's inclusive cost
                continue
            if s[0] in "0123456789+-*":
                p = s.split()
                a = p[0]
                if a.startswith("0x"):
                    addr = int(a, 16)
                elif a[0] == "+":
                    addr += int(a[1:])
                elif a[0] == "-":
                    addr -= int(a[1:])
                if skip:
                    skip = False
                    continue
                if ob is not None and os.path.basename(ob) == base and len(p) > npos:
                    costs[addr] += int(p[npos])
    return costs


def disassembly(binary):
    """Address -> (mnemonic, operands, length, function)."""
    out = subprocess.run(
        ["objdump", "-d", "-C", "--insn-width=16", binary], capture_output=True, text=True, check=True
    ).stdout
    ins = {}
    fn = ""
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            fn = m.group(1)
            continue
        m = re.match(r"^ +([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t(\S+)\s*(.*)$", line)
        if m:
            ins[int(m.group(1), 16)] = (
                m.group(3),
                m.group(4),
                len(m.group(2).split()),
                fn,
            )
    return ins


def main():
    binary, cg, units = sys.argv[1], sys.argv[2], float(sys.argv[3])
    nfun = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--functions" else 0
    costs = profile(cg, binary)
    ins = disassembly(binary)
    loop = straight = mem = pushpop = locked = 0
    hot_bytes = 0
    lines = set()
    per_fn = collections.Counter()
    fn_lines = collections.defaultdict(set)
    for a, n in costs.items():
        if a not in ins:
            continue
        op, args, length, fn = ins[a]
        if op == "lock" or op.startswith("lock"):
            locked += n
        if n > LOOP * units:
            loop += n
        else:
            straight += n
            if op.startswith(("push", "pop")):
                pushpop += n
                mem += n
            elif op.startswith(("call", "ret")):
                mem += n
            elif "(" in args and not op.startswith(("lea", "nop")):
                mem += n
        if n >= HOT * units:
            hot_bytes += length
            span = {x // LINE for x in range(a, a + length)}
            lines |= span
            fn_lines[fn] |= span
            per_fn[fn] += n
    u = units
    print(f"instructions per unit: {(loop + straight) / u:.0f} "
          f"(in loops {loop / u:.0f}, straight-line {straight / u:.0f})")
    print(f"straight-line loads and stores: {mem / u:.0f} (push/pop {pushpop / u:.0f})")
    print(f"lock-prefixed: {locked / u:.2f}")
    print(f"hot code: {hot_bytes} octets over {len(lines)} lines of {LINE} "
          f"({hot_bytes / LINE:.0f} if packed), {len(fn_lines)} functions")
    for fn, n in per_fn.most_common(nfun):
        print(f"  {len(fn_lines[fn]):3d} lines {n / u:7.0f} Ir/unit  {fn[:100]}")


if __name__ == "__main__":
    main()

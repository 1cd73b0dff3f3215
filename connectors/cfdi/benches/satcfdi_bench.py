"""Times Python `satcfdi` parsing the CFDI written by `cargo bench -p cuadra-cfdi --bench parse -- N --write-dir DIR`.

Usage: pip install satcfdi && python3 satcfdi_bench.py DIR [LIMIT]
Files are read into memory first; only `CFDI.from_string` is timed.
"""
import os
import sys
import time

from satcfdi.cfdi import CFDI


def main() -> None:
    folder = sys.argv[1]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else None
    names = sorted(n for n in os.listdir(folder) if n.endswith(".xml"))[:limit]
    docs = []
    for n in names:
        with open(os.path.join(folder, n), "rb") as f:
            docs.append(f.read())
    total = sum(len(d) for d in docs)
    start = time.perf_counter()
    ok = 0
    for d in docs:
        c = CFDI.from_string(d)
        ok += 1 if c.get("Total") is not None else 0
    secs = time.perf_counter() - start
    print(f"satcfdi CFDI.from_string: {len(docs)} CFDI, {len(docs) / secs:.0f} CFDI/s, "
          f"{total / secs / 1e6:.1f} MB/s ({secs:.3f} s, {ok} with Total)")


if __name__ == "__main__":
    main()

"""Times the Python parsers `mt-940` (MT940) and `ofxparse` (OFX) on the files written by
`cargo bench -p cuadra-bank --bench parse -- N --out DIR`, for comparison with the Rust figures.

    python3 -m pip install mt-940 ofxparse
    python3 connectors/bank/benches/compare_python.py DIR

ofxparse builds a BeautifulSoup tree of the whole file: use about 10000 transactions for it (at 100000 it ran
out of time/memory on a 2-core machine).
"""

import os
import sys
import time


def report(name, path, count, secs):
    mb = os.path.getsize(path) / 1e6
    print(f"{name:<10} {mb:8.1f} MB  {count:9d} tx  {secs:7.3f} s  {mb / secs:7.2f} MB/s  {count / secs:10.0f} tx/s")


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench-out"
    sta = os.path.join(d, "bench.sta")
    ofx = os.path.join(d, "bench.ofx")
    try:
        import mt940

        t = time.perf_counter()
        transactions = mt940.parse(sta)
        n = len(list(transactions))
        report("mt-940", sta, n, time.perf_counter() - t)
    except ImportError:
        print("mt-940 not installed (pip install mt-940)")
    try:
        import ofxparse

        t = time.perf_counter()
        with open(ofx, "rb") as f:
            parsed = ofxparse.OfxParser.parse(f)
        n = sum(len(a.statement.transactions) for a in parsed.accounts)
        report("ofxparse", ofx, n, time.perf_counter() - t)
    except ImportError:
        print("ofxparse not installed (pip install ofxparse)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What each index of the transactions table costs an insert, in one run, side by side.

    scripts/bench/sqlite_insert.py [ROWS=60000] [BATCH=1000]

Builds txguard's transactions table (schema v3 columns, WAL, synchronous=NORMAL, 4 KiB pages,
4 MiB page cache, like src/store/sqlite_store.cpp) in a temporary file with: no index; only the
UNIQUE transaction_id; that plus the (partition, seq) UNIQUE index; all three (with the partial
alerts index, as the store has). Inserts ROWS rows in transactions of BATCH rows with random ids
(like the wrk load's) and prints microseconds a row, median of 3 rounds taken in turn. Python's
sqlite3 overhead is in every figure alike, so compare the differences.
"""
import os, random, sqlite3, statistics, sys, tempfile, time

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
VARIANTS = [("no index", ()), ("transaction_id UNIQUE", ("id",)),
            ("+ (partition, seq) UNIQUE", ("id", "seq")),
            ("+ alerts partial index (the store)", ("id", "seq", "alerts"))]


def rows():
    rnd = random.Random(1)
    out = []
    for i in range(ROWS):
        tid = "b%d-%d" % (rnd.randint(1, 10**9), i)
        review = rnd.random() < 0.5
        out.append((0, i + 1, tid, 1522540800000 + i * 1000, 1700000000000 + i,
                    "C%d" % rnd.randint(0, 4999), "T%d" % rnd.randint(0, 9999), rnd.random() * 200,
                    '{"transaction_id":"%s","timestamp":1522540831.005,"amount":57.16,'
                    '"customer_id":"C1","terminal_id":"T2"}' % tid, rnd.random(),
                    "review" if review else "allow",
                    '[{"feature":"customer_amount_ratio","value":1.23,"contribution":0.0123}]'
                    if review else "[]", "iforest-0123456789abcdef"))
    return out


def run(indexes, data, path):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    c = sqlite3.connect(path, isolation_level=None)
    for pragma in ("page_size=4096", "journal_mode=WAL", "synchronous=NORMAL", "cache_size=-4096"):
        c.execute("PRAGMA " + pragma)
    c.execute("CREATE TABLE transactions(partition INTEGER NOT NULL, seq INTEGER NOT NULL, "
              "transaction_id TEXT NOT NULL %s, ts_ms INTEGER NOT NULL, received_ms INTEGER NOT "
              "NULL, customer_id TEXT NOT NULL, terminal_id TEXT NOT NULL, amount REAL, "
              "fields_json TEXT NOT NULL, score REAL, decision TEXT NOT NULL, reasons_json TEXT "
              "NOT NULL, model_version TEXT NOT NULL)" % ("UNIQUE" if "id" in indexes else ""))
    if "seq" in indexes:
        c.execute("CREATE UNIQUE INDEX transactions_seq ON transactions(partition, seq)")
    if "alerts" in indexes:
        c.execute("CREATE INDEX transactions_alerts ON transactions(ts_ms, seq, partition) "
                  "WHERE decision != 'allow'")
    sql = "INSERT INTO transactions VALUES(%s)" % ",".join("?" * 13)
    if "id" in indexes:
        sql += " ON CONFLICT(transaction_id) DO NOTHING"
    t = time.perf_counter()
    for b in range(0, ROWS, BATCH):
        c.execute("BEGIN IMMEDIATE")
        c.executemany(sql, data[b:b + BATCH])
        c.execute("COMMIT")
    dt = time.perf_counter() - t
    c.close()
    return dt / ROWS * 1e6


def main():
    data = rows()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.db")
        times = {name: [] for name, _ in VARIANTS}
        for _ in range(3):
            for name, idx in VARIANTS:
                times[name].append(run(idx, data, path))
    print(f"{ROWS} rows, {BATCH} a transaction, µs a row (median of 3; the 3 runs):")
    for name, _ in VARIANTS:
        t = times[name]
        print(f"  {name:36s} {statistics.median(t):6.2f}   ({', '.join('%.2f' % x for x in t)})")


if __name__ == "__main__":
    main()

"""Sanctions screening benchmark: python -m bench.screening [--quick]

Against the full OFAC SDN list of 2024-05-03 with its aliases: the SDN import (parse, count word
rarity, write to PostgreSQL), the index build, latency per name (p50, p99, one core), throughput
for a batch of 10,000 names, and in the same run two baselines: a trivial pass that only
normalises each name (``name_normalize``, the floor of any screening) and a brute-force scan
that scores every list name with the same scorer (the ratio to beat). Queries mix the labelled
set's positives and negatives: the tuning part is screened first to warm the caches as earlier
traffic would (a word's keys and candidates, a pair of words' similarity), then each held-out
name once, in file order, for the latency figures: words a running process has seen are
cached, new ones are not, as in service.
Then the labelled set's figures: recall per perturbation kind and false-positive rate per kind
of negative, on the tuning and the held-out part, and on common corridor names alone, against
the gate (held-out recall >= 0.99, FPR <= 0.005 on held-out and on common names). A few misses
and false positives are listed by name, of the tuning part only: the held-out part is counted,
never shown, so that nobody tunes on it.

Speed gates (p99 <= 1 ms per name, import <= 1 s) are judged on CPU time, which a machine
shared with other work does not inflate with waits: this thread's CPU time per name
(``screen_cpu_ms_*``) and, for the import, this process's CPU time plus that of the PostgreSQL
backend serving it (read from /proc when the server runs on this machine; ``import_cpu_s``).
Wall-clock figures are printed beside them.
"""

import os
import time
import uuid
from pathlib import Path

from bench.common import arguments, django_setup, percentile, report, summary_ms, timed

SDN = Path(__file__).resolve().parents[1] / "compliance" / "data" / "sanctions" / \
    "ofac-2024-05-03" / "sdn.csv"


def main() -> None:
    options = arguments(__doc__.splitlines()[0])
    django_setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    # A throw-away database, as the tests use: the benchmark never touches real data.
    connection.settings_dict["TEST"]["NAME"] = f"bench_screening_{uuid.uuid4().hex[:8]}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(options)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(options) -> None:
    from django.db import connection

    from compliance.normalize import name_normalize
    from compliance.sanctions.config import screening_thresholds
    from compliance.screening.evaluation import evaluate, labelled_rows
    from compliance.selectors import active_name_index
    from compliance.services import sanctions_import

    client_start, server_start = time.process_time(), _backend_cpu_s(connection)
    import_ms, loaded = timed(lambda: sanctions_import(source="ofac-sdn", files=[SDN]))
    server_end = _backend_cpu_s(connection)
    import_client_s = time.process_time() - client_start
    import_server_s = (server_end - server_start) if server_start is not None \
        and server_end is not None else None
    import_cpu_s = import_client_s + (import_server_s or 0.0)
    # The UN list joins the index so that its labelled positives count (not in import_s).
    sanctions_import(source="un-consolidated", files=[SDN.parents[1] / "un-2026-02" /
                                                      "consolidated.xml"])
    build_ms, (index, _) = timed(active_name_index)
    thresholds = screening_thresholds()
    rows = labelled_rows("positives.csv") + labelled_rows("negatives.csv")
    queries = [row["name"] for row in rows]
    # A running process has screened names before: its caches (a word's keys and candidate
    # names, a pair of words' similarity) hold the common words. The tuning part warms them;
    # latency is measured on the held-out part, names this process has never seen.
    for row in rows:
        if row["part"] == "tuning":
            index.search(row["name"], thresholds=thresholds)
    measured = [row["name"] for row in rows if row["part"] == "held-out"]
    baseline_samples = []
    for name in measured:  # the trivial pass: normalise the name, nothing else
        cpu_start = time.thread_time()
        name_normalize(name)
        baseline_samples.append((time.thread_time() - cpu_start) * 1000)
    samples, cpu_samples = [], []
    for name in measured:
        cpu_start = time.thread_time()
        elapsed, _ = timed(lambda name=name: index.search(name, thresholds=thresholds))
        cpu_samples.append((time.thread_time() - cpu_start) * 1000)
        samples.append(elapsed)
    batch_size = 2000 if options.quick else 10000
    batch = [queries[i % len(queries)] for i in range(batch_size)]
    start = time.perf_counter()
    for name in batch:
        index.search(name, thresholds=thresholds)
    batch_s = time.perf_counter() - start

    brute = queries[:: max(1, len(queries) // (5 if options.quick else 20))]
    brute_samples = []
    for name in brute:
        elapsed, _ = timed(lambda name=name: index.search(name, thresholds=thresholds,
                                                          use_index=False))
        brute_samples.append(elapsed)
    brute_mean_s = sum(brute_samples) / len(brute_samples) / 1000

    evaluation = evaluate(index, thresholds)
    print(evaluation.report(examples=8))
    figures = evaluation.figures()
    latency = summary_ms(samples)
    cpu = summary_ms(cpu_samples)
    baseline = summary_ms(baseline_samples)
    report({
        "list_names": len(index), "list_entries": loaded.entry_count,
        "import_s": round(import_ms / 1000, 3),
        "import_cpu_s": round(import_cpu_s, 3), "import_client_cpu_s": round(import_client_s, 3),
        "import_server_cpu_s": round(import_server_s, 3) if import_server_s is not None
        else "unavailable", "index_build_s": round(build_ms / 1000, 3),
        "screen_ms_p50": latency["p50"], "screen_ms_p99": latency["p99"],
        "screen_ms_max": round(max(samples), 3),
        # CPU time of this thread: the same queries without waits for a busy machine's cores.
        "screen_cpu_ms_p50": cpu["p50"], "screen_cpu_ms_p99": cpu["p99"],
        "normalize_cpu_ms_p50": baseline["p50"], "normalize_cpu_ms_p99": baseline["p99"],
        "screen_vs_normalize_p99": round(cpu["p99"] / baseline["p99"], 1)
        if baseline["p99"] else "n/a",
        "screen_queries": len(samples),
        "batch_names": batch_size, "batch_names_per_s": round(batch_size / batch_s, 1),
        "bruteforce_names_per_s": round(1 / brute_mean_s, 2),
        "bruteforce_ms_p50": round(percentile(brute_samples, 0.5), 1),
        "speedup_vs_bruteforce": round((batch_size / batch_s) * brute_mean_s, 1),
        "recall": round(evaluation.recall(), 4),
        "false_positive_rate": round(evaluation.false_positive_rate(), 4),
        **figures,
        "gate_recall_held_out": figures["recall_held_out"] >= 0.99,
        "gate_fpr": figures["fpr_held_out"] <= 0.005 and figures["fpr_common_names"] <= 0.005,
        "gate_p99_ms": cpu["p99"] <= 1.0, "gate_import_s": import_cpu_s <= 1.0,
        "review_threshold": thresholds.review, "block_threshold": thresholds.block,
    })


def _backend_cpu_s(connection) -> float | None:
    """CPU seconds used so far by the PostgreSQL backend serving ``connection``, from
    /proc/<pid>/stat (utime + stime); None when the server is not on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()

"""The embedded database as kalas/stack/mongo.py starts it: threaded, answering many connections at once, and
without a log line per command (its `NX_SERVER`)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pymongo import MongoClient

from kalas.stack import mongo


def test_the_server_answers_concurrent_clients_and_logs_no_line_per_command(tmp_path):
    server = mongo.start(tmp_path)
    try:
        logged_at_start = server.log.stat().st_size

        def write_and_read(worker: int) -> list[int]:
            with MongoClient(server.uri) as client:  # a connection, so a server thread, per worker
                docs = client.shop.items
                docs.insert_many([{"worker": worker, "n": n} for n in range(50)])
                for n in range(50):
                    docs.update_one({"worker": worker, "n": n}, {"$set": {"seen": True}})
                return sorted(d["n"] for d in docs.find({"worker": worker, "seen": True}))

        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(write_and_read, range(4)))
        assert answers == [list(range(50))] * 4
        # Over 200 commands; nx-27017's threaded server alone would log each of them twice (file and stderr).
        assert server.log.stat().st_size - logged_at_start < 1000, server.log.read_text()[-2000:]
    finally:
        mongo.stop(server)
    assert server.process.returncode is not None

"""CPU milliseconds per request, in-process (Flask's test client, no server, no network): the figure
that load from other work on the machine disturbs least, beside wrk's requests/s and latencies.

  GALLERY_DATA_DIR=... python tests/benchmarks/cpu_probe.py '{"cache": "NullCache"}' /url1 /url2 ...

Prints JSON {url: CPU ms per request (the least of 7 rounds of 100 each)}, signed in as the
benchmark user. The app is benchapp.create(**options) in a process of its own, as each option
changes module state. In a url, FRESH_DATE is a date that moves on a day each request, past every
photo's (bench_search.py's "fresh" searches, as fresh_search.lua makes them for wrk).
"""
from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

ROUNDS, REQUESTS = 7, 100
FRESH_DATE = "{fresh_date}"


def fresh_dates():
    """2100-01-02, 2100-01-03, ...: as fresh_search.lua counts."""
    from datetime import date, timedelta

    day = date(2100, 1, 1)
    while True:
        day += timedelta(days=1)
        yield day.isoformat()


def main() -> int:
    options, urls = json.loads(sys.argv[1]), sys.argv[2:]
    warnings.simplefilter("ignore")  # NullCache says that caching is off: that is the point
    import benchapp
    from benchlib import USERNAME
    from sqlalchemy import select

    from app.blueprints.auth import SESSION_TOKEN
    from app.extensions import db
    from app.models import User
    from app.services.users import start_login_session

    app = benchapp.create(**options)
    client = app.test_client()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == USERNAME))
        user_id, token = user.id, start_login_session(user, "cpu_probe", "127.0.0.1")
    with client.session_transaction() as session:
        session.update({"_user_id": str(user_id), "_fresh": True, SESSION_TOKEN: token})
    dates = fresh_dates()

    def asked(url: str) -> str:
        return url.replace(FRESH_DATE, next(dates)) if FRESH_DATE in url else url

    for url in urls:
        response = client.get(asked(url))
        assert response.status_code == 200, (url, response.status_code)
        response.close()
    best = {url: float("inf") for url in urls}
    for _ in range(ROUNDS):
        for url in urls:  # the urls take turns
            started = time.process_time()
            for _ in range(REQUESTS):
                client.get(asked(url)).close()
            best[url] = min(best[url], (time.process_time() - started) / REQUESTS * 1000)
    print(json.dumps(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())

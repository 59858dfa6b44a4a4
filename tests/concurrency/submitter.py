"""One submitting process of tests/concurrency/test_submission_processes.py.

Run as `python -m tests.concurrency.submitter PLAN RESULTS` with DATABASE_URL naming the
test database. It sets Django up, connects, says it is ready by creating `PLAN.ready`, waits
for one line on its standard input (the start signal shared by every process), then calls
`reading_submit` for each submission of its plan in order and writes one answer per
submission to RESULTS as JSON.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any


def main(plan_path: Path, results_path: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.db import connection

    from autolettura.readings.models import Channel
    from autolettura.readings.services import SubmissionRejected, reading_submit

    plan = json.loads(plan_path.read_text())
    now = datetime.fromisoformat(plan["now"])
    # Connected before the start, so that the race is between submissions, not log-ins.
    connection.ensure_connection()
    plan_path.with_suffix(".ready").touch()
    if not sys.stdin.readline():
        raise SystemExit("no start signal: the test ended first")

    answers: list[dict[str, Any]] = []
    for item in plan["submissions"]:
        answer: dict[str, Any] = {"submission": item}
        try:
            result = reading_submit(
                channel=Channel.APP,
                supply_code=item["supply_code"],
                customer_code=item["customer_code"],
                reading=item["reading"],
                read_on=item["read_on"],
                now=now,
            )
        except SubmissionRejected as exc:
            answer["rejected"] = sorted(e.code for e in exc.errors)
        else:
            reading = result.reading
            answer.update(
                receipt=reading.receipt,
                created=result.created,
                reading_id=reading.pk,
                value=reading.value,
                read_on=reading.read_on.isoformat(),
            )
        answers.append(answer)
    connection.close()
    results_path.write_text(json.dumps(answers))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

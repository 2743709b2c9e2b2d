"""Property tests of the API against its own OpenAPI document (schemathesis): requests made up from
each operation's schema, with alice's token, must never make the gallery fail (no 5xx); and, as every
answer in the suite, each one is held against the document by the `app` fixture (api_contract.py).

Bounded for the normal run: a few examples an operation, derandomized (the same ones every run), no
deadline per example (the shared CI machine's pauses are not the API's), a few seconds in all.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from testapp import invokeai_settings, jpeg

from app.extensions import db
from app.models import User
from app.services import albums, tags, tokens

EXAMPLES = 8  # per operation: ~25 operations, a few seconds in all


@pytest.fixture
def app_config(fake_invokeai):
    """Generation on (against the fake InvokeAI), so its operations are exercised, not switched off."""
    return invokeai_settings(fake_invokeai)


@pytest.fixture
def token(app, user_id, upload) -> str:
    """alice's read-write token, in a library with a photo (id 1), a tag and an album, so some of the
    made-up ids name something."""
    photo_id = upload(jpeg(), "harbour.jpg").json["files"][0]["photo_id"]
    with app.app_context():
        alice = db.session.get_one(User, user_id)
        tags.tag_photos(alice, [photo_id], ["harbour"])
        albums.add_photos(user_id, albums.create_album(alice, "Trips").id, [photo_id])
        return tokens.create_token(alice, "schemathesis")[1]


def test_no_operation_answers_a_server_error(app, token):
    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case):
            response = case.call(headers=auth)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r:.200} -> "
                                f"{response.status_code}: {response.text[:300]}")

        run()
    assert not failures, "\n".join(failures)

"""The JSON API (/api/v1) through its HTTP face, and the personal tokens that open it (CLI and account
page). Every answer here (and anywhere in the suite) is also held against the OpenAPI document by the
`app` fixture (api_contract.py)."""
from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from fake_invokeai import TINY_SD15
from sqlalchemy import select
from testapp import TINY_JPEG, csrf_token_of, invokeai_settings, jpeg, page_text

from app.extensions import db
from app.models import ApiToken, Photo, User, utcnow
from app.services import tokens

PROBLEM = "application/problem+json"


@pytest.fixture
def make_token(app):
    """make_token(user_id, read_only=False, days=None) -> a new token's secret."""
    def make(owner_id: int, read_only: bool = False, days: int | None = None, name: str = "test") -> str:
        with app.app_context():
            return tokens.create_token(db.session.get_one(User, owner_id), name, read_only, days)[1]
    return make


@pytest.fixture
def api(app, user_id, make_token):
    """A client that sends alice's read-write token with every request."""
    return bearer(app.test_client(), make_token(user_id))


def bearer(client, secret: str):
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def upload(api, *contents: bytes):
    response = api.post("/api/v1/photos", data={"photos": [(jpeg_io(c), f"p{i}.jpg") for i, c in enumerate(contents)]},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return [f["photo_id"] for f in response.get_json()["files"]]


def jpeg_io(content: bytes):
    from io import BytesIO
    return BytesIO(content)


def assert_problem(response, status: int, *words: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    for word in words:
        assert word in body["detail"], body


# --- tokens ----------------------------------------------------------------------------------

def test_cli_prints_the_token_once_and_keeps_only_its_hash(app, runner, user_id):
    result = runner.invoke(args=["tokens", "create", "backup script", "--user", "alice", "--read-only",
                                 "--expires", "30"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("gal_") and len(secret) > 40
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert (row.name, row.read_only, row.user_id) == ("backup script", True, user_id)
        assert row.token_hash != secret and secret not in row.token_hash
        assert 29 <= (row.expires_at - utcnow()).days <= 30
    listed = runner.invoke(args=["tokens", "list", "--user", "alice"])
    assert "backup script\tread-only" in listed.output and secret not in listed.output
    assert app.test_client().get("/api/v1/photos", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    revoked = runner.invoke(args=["tokens", "revoke", str(row.id), "--user", "alice"])
    assert revoked.exit_code == 0, revoked.output
    assert_problem(app.test_client().get("/api/v1/photos", headers={"Authorization": f"Bearer {secret}"}), 401)


def test_cli_needs_a_user_and_a_good_expiry(runner, user_id, row_count):
    assert runner.invoke(args=["tokens", "create", "x"]).exit_code == 2  # --user is required
    assert "No user named nobody" in runner.invoke(args=["tokens", "create", "x", "--user", "nobody"]).output
    refused = runner.invoke(args=["tokens", "create", "x", "--user", "alice", "--expires", "0"])
    assert refused.exit_code == 1 and "1 to 3650 days" in refused.output
    assert row_count(ApiToken) == 0


@pytest.mark.parametrize("header", ["Bearer gal_not-a-token", "Bearer ", "Basic YWxpY2U6cHc=", "gal_no_scheme"])
def test_a_bad_token_is_401_with_a_bearer_challenge(anonymous, user_id, header):
    response = anonymous.get("/api/v1/photos", headers={"Authorization": header})
    assert_problem(response, 401, "token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_401(app, anonymous, user_id, make_token):
    secret = make_token(user_id, days=1)
    with app.app_context():
        db.session.scalar(select(ApiToken)).expires_at = utcnow()
        db.session.commit()
    assert_problem(anonymous.get("/api/v1/tags", headers={"Authorization": f"Bearer {secret}"}), 401, "expired")


def test_no_credentials_at_all_is_401(anonymous, user_id):
    response = anonymous.get("/api/v1/photos")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_session_cookie_reads_but_cannot_write(client, photo_count):
    assert client.get("/api/v1/photos").status_code == 200
    response = client.post("/api/v1/albums", json={"name": "From another site"},
                           headers={"X-CSRFToken": csrf_token_of(client)})
    assert_problem(response, 403, "token")
    assert client.get("/api/v1/albums").get_json() == {"albums": []}


def test_a_read_only_token_reads_but_cannot_write(app, user_id, make_token):
    reader = bearer(app.test_client(), make_token(user_id, read_only=True))
    assert reader.get("/api/v1/albums").status_code == 200
    assert_problem(reader.post("/api/v1/albums", json={"name": "Nope"}), 403, "read-only")
    assert reader.get("/api/v1/albums").get_json() == {"albums": []}


def test_a_bearer_write_needs_no_csrf_token(app, api):
    """The app under test checks CSRF (as production does): the token alone carries the write."""
    app.config["WTF_CSRF_ENABLED"] = True
    assert api.post("/api/v1/albums", json={"name": "Harbour"}).status_code == 201


def listed_tokens(page) -> list[str]:
    return [name.get_text() for name in BeautifulSoup(page.data, "html.parser").select(".tokens .token-name")]


def test_account_page_makes_shows_once_and_revokes_a_token(client, anonymous):
    made = client.post("/account/tokens", data={"name": "phone app", "expires": "", "read_only": ""})
    assert made.status_code == 200
    secret = BeautifulSoup(made.data, "html.parser").select_one("input.token-value")["value"]
    assert secret.startswith("gal_")
    assert anonymous.get("/api/v1/photos", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page = client.get("/account")
    assert listed_tokens(page) == ["phone app"] and secret not in page.get_data(as_text=True)
    revoke = BeautifulSoup(page.data, "html.parser").select_one(".tokens form")["action"]
    assert client.post(revoke).status_code == 303
    assert listed_tokens(client.get("/account")) == []
    assert anonymous.get("/api/v1/photos", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_account_page_refuses_a_nameless_token(client, row_count):
    assert client.post("/account/tokens", data={"name": "  ", "expires": "30"}).status_code == 400
    assert row_count(ApiToken) == 0


def test_another_accounts_token_cannot_be_revoked(client, bob_id, make_token, row_count):
    make_token(bob_id)
    with client.application.app_context():
        bobs = db.session.scalar(select(ApiToken.id))
    assert client.post(f"/account/tokens/{bobs}/revoke").status_code == 404
    assert row_count(ApiToken) == 1


# --- photos ----------------------------------------------------------------------------------

def test_upload_list_get_and_files(api, photos_dir):
    [photo_id] = upload(api, (photos_dir / TINY_JPEG).read_bytes())
    listed = api.get("/api/v1/photos").get_json()
    assert [p["id"] for p in listed["photos"]] == [photo_id] and listed["older"] is None
    photo = api.get(f"/api/v1/photos/{photo_id}").get_json()
    assert (photo["width"], photo["height"], photo["in_trash"], photo["tags"]) == (100, 68, False, [])
    original = api.get(photo["original_url"], buffered=True)
    assert original.status_code == 200 and original.data == (photos_dir / TINY_JPEG).read_bytes()
    thumbnail = api.get(photo["thumbnail_url"], buffered=True)
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert api.get(f"/api/v1/photos/{photo_id}/thumbnails/huge").status_code == 404


def test_upload_of_the_same_bytes_is_a_duplicate_and_of_no_image_a_problem(api):
    content = jpeg((10, 20, 30))
    upload(api, content)
    again = api.post("/api/v1/photos", data={"photos": [(jpeg_io(content), "again.jpg")]},
                     content_type="multipart/form-data")
    assert again.status_code == 200 and again.get_json()["files"][0]["result"] == "duplicate"
    junk = api.post("/api/v1/photos", data={"photos": [(jpeg_io(b"not an image"), "x.jpg")]},
                    content_type="multipart/form-data")
    assert junk.status_code in (400, 415) and junk.mimetype == PROBLEM
    assert_problem(api.post("/api/v1/photos", data={}, content_type="multipart/form-data"), 400, "photos")


def test_list_pages_by_cursor_and_filters_as_the_grid(api):
    ids = upload(api, *(jpeg((n * 40, 10, 10)) for n in range(5)))
    first = api.get("/api/v1/photos?limit=2&sort=added").get_json()
    second = api.get(f"/api/v1/photos?limit=2&sort=added&older={first['older']}").get_json()
    third = api.get(f"/api/v1/photos?limit=2&sort=added&older={second['older']}").get_json()
    seen = [p["id"] for page in (first, second, third) for p in page["photos"]]
    assert seen == sorted(ids, reverse=True) and third["older"] is None
    assert api.patch(f"/api/v1/photos/{ids[1]}", json={"favourite": True, "rating": 4}).status_code == 200
    assert [p["id"] for p in api.get("/api/v1/photos?favourites=true").get_json()["photos"]] == [ids[1]]
    assert [p["id"] for p in api.get("/api/v1/photos?rating=3").get_json()["photos"]] == [ids[1]]
    assert api.get("/api/v1/photos?source=generated").get_json()["photos"] == []
    assert_problem(api.get("/api/v1/photos?older=taken.nonsense.1"), 400, "cursor")
    assert_problem(api.get("/api/v1/photos?sort=sideways"), 400, "sort")


def test_patch_marks_and_tags_then_filter_by_tag(api):
    photo_id, other = upload(api, jpeg((1, 2, 3)), jpeg((200, 2, 3)))
    changed = api.patch(f"/api/v1/photos/{photo_id}", json={"favourite": True, "rating": 5,
                                                             "add_tags": ["Harbour", "boats"]}).get_json()
    assert (changed["favourite"], changed["rating"]) == (True, 5)
    tag_ids = {t["name"]: t["id"] for t in changed["tags"]}
    assert set(tag_ids) == {"Harbour", "boats"}
    tagged = api.get(f"/api/v1/photos?tag={tag_ids['boats']}").get_json()["photos"]
    assert [p["id"] for p in tagged] == [photo_id]
    after = api.patch(f"/api/v1/photos/{photo_id}", json={"remove_tags": [tag_ids["boats"]]}).get_json()
    assert [t["name"] for t in after["tags"]] == ["Harbour"]


@pytest.mark.parametrize(("body", "field"), [({"rating": 9}, "rating"), ({"favourite": "maybe"}, "favourite"),
                                             ({"add_tags": ["a,b"]}, "comma"), ({"colour": "red"}, "colour")])
def test_a_refused_change_names_the_field_and_changes_nothing(api, body, field):
    [photo_id] = upload(api, jpeg())
    before = api.get(f"/api/v1/photos/{photo_id}").get_json()
    assert_problem(api.patch(f"/api/v1/photos/{photo_id}", json=body), 400, field)
    assert api.get(f"/api/v1/photos/{photo_id}").get_json() == before


def test_trash_restore_and_empty(api, app):
    keep, drop = upload(api, jpeg((5, 5, 5)), jpeg((250, 5, 5)))
    trashed = api.post(f"/api/v1/photos/{drop}/trash").get_json()
    assert trashed["in_trash"] and trashed["removal_at"]
    assert [p["id"] for p in api.get("/api/v1/photos").get_json()["photos"]] == [keep]
    assert [p["id"] for p in api.get("/api/v1/trash").get_json()["photos"]] == [drop]
    assert api.post(f"/api/v1/photos/{drop}/restore").get_json()["in_trash"] is False
    api.post(f"/api/v1/photos/{drop}/trash")
    assert api.delete("/api/v1/trash").get_json() == {"deleted": 1}
    with app.app_context():
        assert db.session.scalars(select(Photo.id)).all() == [keep]


def test_another_accounts_ids_are_404(app, api, bob_id, make_token):
    [photo_id] = upload(api, jpeg())
    album_id = api.post("/api/v1/albums", json={"name": "Mine"}).get_json()["id"]
    bob = bearer(app.test_client(), make_token(bob_id))
    for method, url, body in [("GET", f"/api/v1/photos/{photo_id}", None),
                              ("PATCH", f"/api/v1/photos/{photo_id}", {"rating": 1}),
                              ("POST", f"/api/v1/photos/{photo_id}/trash", None),
                              ("GET", f"/api/v1/photos/{photo_id}/original", None),
                              ("GET", f"/api/v1/photos?album={album_id}", None),
                              ("DELETE", f"/api/v1/albums/{album_id}", None)]:
        assert_problem(bob.open(url, method=method, json=body), 404)
    assert_problem(bob.post(f"/api/v1/albums/{album_id}/photos", json={"photo_ids": [photo_id]}), 404)
    assert api.get(f"/api/v1/photos/{photo_id}").get_json()["rating"] == 0


# --- albums, tags ------------------------------------------------------------------------------

def test_albums_crud_and_their_photos(api):
    photo_id, other = upload(api, jpeg((9, 9, 9)), jpeg((99, 9, 9)))
    top = api.post("/api/v1/albums", json={"name": "Trips"}).get_json()
    sub = api.post("/api/v1/albums", json={"name": "Oslo", "parent_id": top["id"]})
    assert sub.status_code == 201 and sub.get_json()["breadcrumb"] == [{"id": top["id"], "name": "Trips"}]
    sub_id = sub.get_json()["id"]
    assert api.post(f"/api/v1/albums/{sub_id}/photos", json={"photo_ids": [photo_id]}).get_json() == {"changed": 1}
    assert [p["id"] for p in api.get(f"/api/v1/photos?album={sub_id}").get_json()["photos"]] == [photo_id]
    changed = api.patch(f"/api/v1/albums/{sub_id}", json={"name": "Bergen", "description": "rain",
                                                          "cover_photo_id": photo_id}).get_json()
    assert (changed["name"], changed["description"], changed["chosen_cover_id"]) == ("Bergen", "rain", photo_id)
    assert_problem(api.patch(f"/api/v1/albums/{top['id']}", json={"parent_id": sub_id}), 400, "itself")
    assert api.post(f"/api/v1/albums/{sub_id}/photos/remove", json={"photo_ids": [photo_id]}).get_json() == {"changed": 1}
    assert_problem(api.delete(f"/api/v1/albums/{top['id']}"), 400, "children")
    assert api.delete(f"/api/v1/albums/{top['id']}?children=move_up").get_json() == {"deleted": 1}
    assert [a["name"] for a in api.get("/api/v1/albums").get_json()["albums"]] == ["Bergen"]


def test_tags_list_rename_merge_delete(api):
    [photo_id] = upload(api, jpeg())
    api.patch(f"/api/v1/photos/{photo_id}", json={"add_tags": ["sea", "Sea view"]})
    listed = {t["name"]: t for t in api.get("/api/v1/tags").get_json()["tags"]}
    assert {name: t["photos"] for name, t in listed.items()} == {"sea": 1, "Sea view": 1}
    merged = api.patch(f"/api/v1/tags/{listed['Sea view']['id']}", json={"name": "SEA"}).get_json()
    assert merged == {"id": listed["sea"]["id"], "name": "SEA", "merged": True}
    assert api.delete(f"/api/v1/tags/{merged['id']}").status_code == 204
    assert api.get("/api/v1/tags").get_json() == {"tags": []}
    assert_problem(api.patch(f"/api/v1/tags/{merged['id']}", json={"name": "x"}), 404)


# --- generation --------------------------------------------------------------------------------

class TestGeneration:
    @pytest.fixture
    def app_config(self, fake_invokeai):
        return invokeai_settings(fake_invokeai)

    def test_models_start_status_keep_reject_discard(self, api):
        models = api.get("/api/v1/generation/models").get_json()["models"]
        assert TINY_SD15 in {m["key"] for m in models}
        started = api.post("/api/v1/generation/sessions", json={"prompt": "a lighthouse", "model_key": TINY_SD15,
                                                                "width": 64, "height": 64, "steps": 2,
                                                                "seed": 7, "count": 3})
        assert started.status_code == 201, started.get_json()
        session_id = started.get_json()["id"]
        for _ in range(50):
            session = api.post(f"/api/v1/generation/sessions/{session_id}/status").get_json()
            if session["finished"]:
                break
        assert [i["state"] for i in session["images"]] == ["done"] * 3
        first, second, _third = session["images"]
        kept = api.post(f"/api/v1/generation/images/{first['id']}/keep", json={"image_name": first["image_name"]})
        assert kept.status_code == 200 and kept.get_json()["photo_id"]
        assert_problem(api.post(f"/api/v1/generation/images/{first['id']}/keep",
                                json={"image_name": first["image_name"]}), 409, "already")
        rejected = api.post(f"/api/v1/generation/images/{second['id']}/reject", json={"image_name": second["image_name"]})
        assert rejected.get_json()["decision"] == "rejected"
        assert api.post(f"/api/v1/generation/sessions/{session_id}/discard").get_json() == {"discarded": 2}
        assert [p["id"] for p in api.get("/api/v1/photos?source=generated").get_json()["photos"]] == \
            [kept.get_json()["photo_id"]]

    def test_a_refused_parameter_is_named(self, api):
        response = api.post("/api/v1/generation/sessions", json={"prompt": "x", "model_key": TINY_SD15, "width": 65})
        assert_problem(response, 400, "width")
        assert_problem(api.post("/api/v1/generation/sessions", json={"model_key": TINY_SD15}), 400, "prompt")


# --- the document -----------------------------------------------------------------------------

def test_the_document_is_openapi_3_1_and_covers_every_api_route(app, api):
    doc = api.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    routed = {(method, rule.rule.replace("<int(max=2147483647):", "{").replace("<", "{").replace(">", "}"))
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed - documented == {("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/docs")}


def test_the_docs_page_lists_the_operations(api):
    page = api.get("/api/v1/docs")
    assert page.status_code == 200
    assert "/api/v1/photos/{photo_id}/original" in page_text(page)


def test_the_contract_check_sees_an_answer_that_breaks_the_document(app, api):
    """The check every test's API answers pass through (api_contract.py) is not one that passes anything."""
    import api_contract
    from flask import Response

    with app.test_request_context("/api/v1/photos"):
        wrong_body = Response('{"photos": "none"}', 200, mimetype="application/json")
        undocumented = Response('{"photos": []}', 418, mimetype="application/json")
        wrong_type = Response("<p>hi</p>", 200, mimetype="text/html")
        right = Response('{"photos": [], "older": null, "newer": null}', 200, mimetype="application/json")
        assert "photos" in api_contract.violation("GET", "/api/v1/photos", wrong_body)
        assert "status" in api_contract.violation("GET", "/api/v1/photos", undocumented)
        assert "content type" in api_contract.violation("GET", "/api/v1/photos", wrong_type)
        assert api_contract.violation("GET", "/api/v1/photos", right) is None


def test_the_photo_lists_written_out_dump_is_the_schemas(app, api, user_id):
    """list_photos writes its photos out by hand (for speed): the same JSON as PhotoSummary's dump."""
    upload(api, jpeg((200, 30, 30)), jpeg((30, 200, 30)))
    from app.blueprints.api.photos import PhotoSummary, summaries
    from app.services import photos as photo_service
    with app.test_request_context("/api/v1/photos"):
        page = photo_service.grid_page(db.session.get_one(User, user_id))
        assert len(page.photos) == 2
        assert summaries(page.photos) == PhotoSummary(many=True).dump(page.photos)
    assert api.get("/api/v1/photos").get_json()["photos"] == summaries_of(app, page.photos)


def summaries_of(app, photos) -> list[dict]:
    from app.blueprints.api.photos import PhotoSummary
    with app.test_request_context("/api/v1/photos"):
        return PhotoSummary(many=True).dump(photos)

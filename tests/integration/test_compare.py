"""The compare page: two to four of the owner's images side by side, their parameters as rows with the
differing ones marked; reached from the selection menu and from a generation session.

Generated photos are made the real way (the fake InvokeAI generates, the session page keeps), camera
photos are real files of ../shared/photos uploaded through /upload.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup
from testapp import GPS_JPEG, JSON, TINY_JPEG, invokeai_settings, page_text

from app.services import trash

GENERATED_PROMPT = "a lighthouse on a cliff at sunset"  # testapp.GENERATE_FORM's


@pytest.fixture
def app_config(fake_invokeai):
    return invokeai_settings(fake_invokeai)


@pytest.fixture
def session_of_three(generate, poll_until_finished, stored_images, client):
    """A finished session of seeds 42, 43, 44 with 42 and 43 kept: (photo ids of 42 and 43, candidate 44's id)."""
    session_id = generate(seed=42, count=3)
    poll_until_finished(session_id)
    images = stored_images(session_id)
    kept = []
    for seed in (42, 43):
        response = client.post(f"/generate/images/{images[seed].id}/keep", headers=JSON,
                               data={"image_name": images[seed].image_name})
        assert response.status_code == 200, response.get_json()
        kept.append(int(response.get_json()["image"]["photo_url"].rsplit("/", 1)[1]))
    return session_id, kept, images[44].id


@pytest.fixture
def two_cameras(upload, photos_dir) -> list[int]:
    """A Canon EOS 40D photo and a Nikon COOLPIX P6000 one (with GPS), uploaded."""
    ids = []
    for name in (TINY_JPEG, GPS_JPEG):
        response = upload(photos_dir / name)
        assert response.status_code == 201, response.json
        ids.append(response.json["files"][0]["photo_id"])
    return ids


def page_of(response) -> BeautifulSoup:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def rows_of(page: BeautifulSoup) -> dict[str, tuple[bool, list[str]]]:
    """Parameter label -> (marked as differing, the cell texts in column order)."""
    rows = {}
    for row in page.select("table.compare-table tbody tr:not(.section)"):
        label = row.th.find(string=True, recursive=False).strip()
        marked = "differs" in row["class"]
        # the mark is visible text and read out, not a colour only
        assert marked == (row.select_one(".differs-mark") is not None) == ("(differs)" in row.th.get_text())
        rows[label] = (marked, [cell.get_text(" ", strip=True) for cell in row.select("td")])
    return rows


def compare_url(*ids, candidates=()) -> str:
    query = "&".join([f"ids={i}" for i in ids] + [f"candidates={i}" for i in candidates])
    return f"/compare?{query}"


def test_two_kept_generations_differ_in_their_seed_only(client, session_of_three):
    _, (first, second), _ = session_of_three
    page = page_of(client.get(compare_url(first, second)))
    rows = rows_of(page)
    assert rows["Seed"] == (True, ["42", "43"])
    assert rows["Prompt"] == (False, [GENERATED_PROMPT, GENERATED_PROMPT])
    assert rows["Negative prompt"] == (False, ["blurry, text"] * 2)
    assert rows["Steps"] == (False, ["2", "2"]) and rows["Scheduler"] == (False, ["dpmpp_2m"] * 2)
    assert rows["CFG scale"] == (False, ["7.5", "7.5"]) and rows["Size"] == (False, ["64 × 72"] * 2)
    assert rows["Base"][0] is False and rows["Model"][0] is False
    assert "Camera" not in rows  # no camera wrote these
    differing = [label for label, (marked, _) in rows.items() if marked]
    assert "Seed" in differing and "Prompt" not in differing
    # Each image links to its photo page; two images get the A/B slider (shown by its script).
    links = [a["href"] for a in page.select("ol.compare-images .compare-thumb")]
    assert links == [f"/photos/{first}", f"/photos/{second}"]
    slider = page.select_one("section.ab[data-ab]")
    assert slider is not None and slider.has_attr("hidden")
    assert slider.select_one("input[type=range][data-ab-range]")["aria-label"].startswith("Split between A")
    assert page.select_one("script[src*='compare.js']") is not None


def test_a_candidate_not_kept_yet_compares_with_the_kept_ones(client, session_of_three):
    session_id, (first, second), candidate = session_of_three
    page = page_of(client.get(compare_url(first, second, candidates=[candidate])))
    assert rows_of(page)["Seed"] == (True, ["42", "43", "44"])
    assert page.select_one("section.ab") is None  # the slider is for two
    links = [a["href"] for a in page.select("ol.compare-images .compare-thumb")]
    assert links == [f"/photos/{first}", f"/photos/{second}", f"/generate/sessions/{session_id}"]
    assert "Not kept" in page.select("ol.compare-images figcaption")[2].get_text()
    thumbnail = page.select("ol.compare-images img")[2]["src"]
    assert client.get(thumbnail, buffered=True).status_code == 200


def test_the_session_page_offers_its_images_to_compare(client, session_of_three):
    session_id, (first, second), candidate = session_of_three
    page = page_of(client.get(f"/generate/sessions/{session_id}"))
    form = page.select_one("form#compare-images")
    assert form["method"] == "get" and form["action"] == "/compare"
    boxes = {(box["name"], int(box["value"])) for box in page.select("input[type=checkbox][form=compare-images]")}
    assert boxes == {("ids", first), ("ids", second), ("candidates", candidate)}


def test_camera_photos_differ_in_their_camera(client, two_cameras):
    canon, nikon = two_cameras
    rows = rows_of(page_of(client.get(compare_url(canon, nikon))))
    assert rows["Camera"] == (True, ["Canon EOS 40D", "NIKON COOLPIX P6000"])
    assert rows["Taken"][0] is True and rows["Dimensions"] == (True, ["100 × 68", "640 × 480 (0.3 MP)"])
    assert rows["Location"][0] is True and rows["Location"][1][0] == "—"  # only the Nikon's has GPS
    assert rows["Format"] == (False, ["JPEG", "JPEG"])
    assert "Seed" not in rows and "Prompt" not in rows


def test_the_selection_menu_compares_what_is_ticked(client, two_cameras):
    canon, nikon = two_cameras
    page = page_of(client.get("/"))
    form = page.select_one("form#selection")
    assert "compare" in [option["value"] for option in form.select("select[name=action] option")]
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    response = client.post(form["action"], data=data | {"action": "compare", "ids": [str(nikon), str(canon)]})
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/compare" and parse_qs(location.query) == {"ids": [str(nikon), str(canon)]}
    rows = rows_of(page_of(client.get(response.headers["Location"])))
    assert rows["Camera"][1] == ["NIKON COOLPIX P6000", "Canon EOS 40D"]  # in the order ticked


def test_ticking_one_photo_for_compare_goes_back_to_the_grid_saying_why(client, two_cameras):
    form = page_of(client.get("/")).select_one("form#selection")
    data = {field["name"]: field["value"] for field in form.select("input[type=hidden]")}
    response = client.post(form["action"], data=data | {"action": "compare", "ids": [str(two_cameras[0])]},
                           follow_redirects=True)
    assert response.request.path == "/"
    assert "Select 2 to 4 photos to compare; you selected 1." in response.get_data(as_text=True)


def test_a_photo_in_the_trash_may_be_compared(app, client, user_id, two_cameras):
    with app.app_context():
        trash.move_to_trash(user_id, [two_cameras[0]])
    page = page_of(client.get(compare_url(*two_cameras)))
    assert "In the trash" in page.select("ol.compare-images figcaption")[0].get_text()
    trash_page = page_of(client.get("/trash"))
    assert "compare" in [option["value"] for option in trash_page.select("form#selection select[name=action] option")]


@pytest.mark.parametrize("count", [1, 5])
def test_one_or_five_images_is_a_400_in_words(client, upload, photos_dir, count):
    ids = [upload(photos_dir / name).json["files"][0]["photo_id"] for name in (
        TINY_JPEG, GPS_JPEG, "camera/nikon-coolpix-p6000_gps2.jpg", "formats/denali.webp",
        "formats/png-16bit-rgb.png")[:count]]
    response = client.get(compare_url(*ids))
    assert response.status_code == 400
    assert f"Select 2 to 4 images to compare; {count} {'was' if count == 1 else 'were'} selected." in \
        page_text(response)


def test_the_bare_url_says_where_to_choose_what_to_compare(client):
    response = client.get("/compare")
    assert "Tick two to four photos on the grid" in page_text(response) and response.status_code == 200


@pytest.mark.parametrize("query, words", [("ids=,", "0 were selected"), ("ids=1&ids=x", "'x' is not a photo id"),
                                          ("ids=1&candidates=-3", "'-3' is not a generated image id")])
def test_no_ids_or_a_value_that_is_not_an_id_is_a_400(client, query, words):
    response = client.get(f"/compare?{query}")
    assert response.status_code == 400 and words in page_text(response)


def test_another_accounts_photo_or_candidate_is_a_404(client, bob, session_of_three, two_cameras):
    _, (first, second), candidate = session_of_three
    assert bob.get(compare_url(first, second)).status_code == 404
    assert bob.get(compare_url(candidates=[candidate, candidate + 1000])).status_code == 404
    # one foreign (or unknown) id among the owner's own refuses the whole page
    assert client.get(compare_url(first, second + 1000)).status_code == 404
    assert bob.get(compare_url(*two_cameras)).status_code == 404
    assert client.get(compare_url(*two_cameras)).status_code == 200


def test_a_rejected_candidate_is_not_offered(client, session_of_three, stored_images):
    session_id, (first, _), candidate = session_of_three
    image = stored_images(session_id)[44]
    assert client.post(f"/generate/images/{candidate}/reject", data={"image_name": image.image_name},
                       headers=JSON).status_code == 200
    assert client.get(compare_url(first, candidates=[candidate])).status_code == 404


def test_image_to_image_compares_strength_and_starting_image(client, two_cameras, generate, poll_until_finished,
                                                             stored_images):
    """Two images made from the Canon photo at strengths 0.6 and 0.3: the strength row differs, the starting
    image's does not; a photo made from nothing shows no strength ("—")."""
    canon = two_cameras[0]
    made = []
    for strength in (0.6, 0.3):
        session_id = generate(count=1, seed=7, strength=strength, source_photo=canon)
        poll_until_finished(session_id)
        (image,) = stored_images(session_id).values()
        response = client.post(f"/generate/images/{image.id}/keep", data={"image_name": image.image_name},
                               headers=JSON)
        assert response.status_code == 200, response.get_json()
        made.append(int(response.get_json()["image"]["photo_url"].rsplit("/", 1)[1]))
    rows = rows_of(page_of(client.get(compare_url(*made))))
    assert rows["Strength"] == (True, ["0.60", "0.30"])
    assert rows["Starting image"] == (False, [f"canon-eos-40d_tiny.jpg (photo {canon})"] * 2)
    assert rows["Seed"] == (False, ["7", "7"])

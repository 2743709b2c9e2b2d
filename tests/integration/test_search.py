"""Search: words found in every field of a photo's document (name, camera, lens, prompt, negative
prompt, tag, album), quotes, -excluded and prefix*, each typed filter and combinations, keyset paging,
the trash and other accounts left out, the index kept in step by renames and deletes, the rebuild
command, and hostile input answered 200 or 400, never 500, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from app.extensions import db
from app.models import Photo, User
from app.services import albums, search, tags, trash
from app.services import photos as photo_service

PAGE_SIZE = 3
T0 = datetime(2025, 6, 1, 12, 0, 0)


@pytest.fixture
def app_config():
    return {"PAGE_SIZE": PAGE_SIZE}


def add_photo(app, owner_id: int, name: str, hours: int = 0, **columns) -> int:
    """One photo row of `owner_id` through the ingest's own insert (which writes its search document)."""
    keywords = tuple(columns.pop("keywords", ()))
    with app.app_context():
        at = T0 + timedelta(hours=hours)
        photo = Photo(owner_id=owner_id, source="generated" if columns.get("prompt") else "uploaded",
                      original_path=f"uploaded/2025-06-01/{owner_id}-{name}", thumbnail_ext="jpg", original_name=name,
                      sha256=f"{owner_id}-{name}-".ljust(64, "0")[:64], format="JPEG", mime_type="image/jpeg",
                      file_size=1000, width=columns.pop("width", 4000), height=columns.pop("height", 3000),
                      taken_at=at, sorted_at=at, uploaded_at=at, **columns)
        photo_service.insert_photo(photo, keywords)
        return photo.id


def found(client, query: str) -> list[int]:
    """The ids of the photos the search page shows for the query string `query`, in order."""
    response = client.get(f"/search?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    return [int(box["value"]) for box in page.select(".grid input[name=ids]")]


@pytest.fixture
def library(app, user_id, bob_id):
    """A small library: a Canon photo with a lens and GPS, a Nikon one, two generated ones, and Bob's."""
    ids = {
        "canon": add_photo(app, user_id, "IMG_0042.jpg", 1, camera_make="Canon", camera_model="Canon EOS R5",
                           lens="RF 24-70mm F2.8", gps_latitude=48.1, gps_longitude=11.5, keywords=("Holiday",)),
        "nikon": add_photo(app, user_id, "DSC_1000.jpg", 2, camera_make="NIKON CORPORATION", camera_model="NIKON Z 6",
                           lens="NIKKOR Z 50mm f/1.8 S", width=6000, height=4000),
        "castle": add_photo(app, user_id, "castle.png", 3, prompt="a red castle on a mountain at dawn, Café lights",
                            negative_prompt="blurry, watermark", seed=1234, model_name="juggernaut-xl",
                            steps=30, cfg_scale=7.0, scheduler="euler_a"),
        "dragon": add_photo(app, user_id, "dragon.png", 4, prompt="a green dragon over mountains",
                            negative_prompt="lowres", seed=99, model_name="flux-dev", steps=20, cfg_scale=3.5,
                            scheduler="dpmpp_2m"),
        "bob": add_photo(app, bob_id, "castle-bob.png", 5, prompt="a red castle on a mountain at dawn", seed=1234),
    }
    with app.app_context():
        album = albums.create_album(db.session.get(User, user_id), "Summer in Bavaria")
        albums.add_photos(user_id, album.id, [ids["canon"]])
        ids["album"] = album.id
    return ids


@pytest.mark.parametrize("words, expected", [
    ("img", ["canon"]), ("0042", ["canon"]), ("canon", ["canon"]), ("nikkor", ["nikon"]),
    ("castle", ["castle"]), ("watermark", ["castle"]), ("holiday", ["canon"]), ("bavaria", ["canon"]),
    ("cafe", ["castle"]), ("CAFÉ", ["castle"]), ("mount*", ["dragon", "castle"]), ("mountain", ["castle"]),
    ('"red castle"', ["castle"]), ('"castle red"', []), ("dragon -green", []), ("a -dragon", ["castle"]),
    ("red mountain", ["castle"]), ("IMG_0042", ["canon"]), ("ho*", ["canon"]),
])
def test_words_are_found_in_every_field_with_phrases_exclusions_and_prefixes(client, library, words, expected):
    from urllib.parse import quote
    assert found(client, f"q={quote(words)}") == [library[name] for name in expected]


@pytest.mark.parametrize("query, expected", [
    ("taken_from=2025-06-01&taken_to=2025-06-01&source=uploaded", ["nikon", "canon"]),
    ("taken_from=2025-06-02", []),
    ("camera=eos", ["canon"]), ("camera=nikon", ["nikon"]), ("lens=24-70", ["canon"]),
    ("gps=1", ["canon"]), ("gps=0", ["dragon", "castle", "nikon"]), ("tag=holiday", ["canon"]),
    ("source=generated", ["dragon", "castle"]), ("model=juggernaut", ["castle"]), ("seed=1234", ["castle"]),
    ("scheduler=euler", ["castle"]), ("steps_min=25", ["castle"]), ("steps_max=25", ["dragon"]),
    ("cfg_min=3&cfg_max=4", ["dragon"]), ("mp_min=20", ["nikon"]), ("mp_max=12", ["dragon", "castle", "canon"]),
    ("prompt_of={dragon}", ["dragon"]), ("prompt_of={bob}", []), ("camera=%25", []), ("camera=_", []),
    ("q=mount*&source=generated&steps_min=25", ["castle"]), ("q=canon&gps=1&camera=eos", ["canon"]),
    ("q=canon&gps=0", []), ("favourites=1&q=castle", []),
    ("q=mount*&taken_from=2025-06-01&taken_to=2025-06-01", ["dragon", "castle"]), ("q=mount*&taken_from=2025-06-02", []),
    ("q=mount*&taken_to=2025-05-31", []), ("q=castle&sort=added&order=oldest", ["castle"]),
])
def test_each_typed_filter_and_their_combinations(client, library, query, expected):
    query = query.format(**library)
    assert found(client, query) == [library[name] for name in expected]


def test_an_album_filter_and_another_accounts_album_is_a_404(client, bob, library):
    assert found(client, f"album={library['album']}") == [library["canon"]]
    assert client.get(f"/search?album={library['album'] + 1000}").status_code == 404
    assert bob.get(f"/search?album={library['album']}").status_code == 404


def test_a_statement_built_for_one_search_answers_the_next_with_its_own_values(app, client, bob, library):
    """A page's statement is built once for each shape of search and runs again with the next one's values
    (services/photos.py page_statement): the same shapes asked in turn by two accounts, with other words,
    another camera, other ranges and a cursor each find what they ask for, and never what the last one did."""
    for _ in range(2):  # the second round runs on statements the first built
        assert found(client, "q=castle&seed=1234") == [library["castle"]]
        assert found(bob, "q=castle&seed=1234") == [library["bob"]]
        assert found(client, "q=dragon&seed=99") == [library["dragon"]]
        assert found(client, "camera=eos") == [library["canon"]] and found(client, "camera=nikon") == [library["nikon"]]
        assert found(bob, "camera=eos") == []
        assert found(client, "steps_min=25&steps_max=40") == [library["castle"]]
        assert found(client, "steps_min=10&steps_max=25") == [library["dragon"]]
        assert found(client, "taken_from=2025-06-01") == [library[name] for name in ("dragon", "castle", "nikon")]
        first = BeautifulSoup(client.get("/search?taken_from=2025-06-01").get_data(as_text=True), "html.parser")
        older = first.select_one("a[rel=next]")["href"].split("?", 1)[1]
        assert found(client, older) == [library["canon"]]  # the cursor's page, from the cursor's values
        assert found(bob, older) == []  # bob's one photo is newer than alice's cursor
        assert found(client, "tag=holiday") == [library["canon"]] and found(bob, "tag=holiday") == []


def vm_steps(work) -> tuple[int, object]:
    """(SQLite's virtual machine steps, in hundreds, that work() took on the session's connection, its result)."""
    connection = db.session.connection().connection.dbapi_connection
    counted = [0]

    def count():
        counted[0] += 1
    connection.set_progress_handler(count, 100)
    try:
        result = work()
    finally:
        connection.set_progress_handler(None, 100)
    return counted[0], result


def test_a_deep_page_of_a_search_with_a_taken_to_date_walks_from_its_cursor(app, database, user_id):
    """SQLite walks the date index from the first bound of the date it reads in the WHERE clause: a
    taken-to date written before a deep page's cursor made the page walk down from that date, past every
    page before it. Counted in SQLite's virtual machine steps, a deep page costs about what the first one
    does, with a taken-to date or without."""
    if database.backend != "sqlite":
        pytest.skip("the order of the bounds is SQLite's planner's; PostgreSQL weighs them by their costs")
    from dataclasses import replace

    with app.app_context():
        for n in range(300):
            add_photo(app, user_id, f"castle-{n}.jpg", n)
        owner = db.session.get(User, user_id)
        steps = {}
        for label, query in (("first", {"q": "castle"}), ("deep", {"q": "castle"}),
                             ("deep, taken to", {"q": "castle", "taken_to": "2099-01-01"})):
            filters = search.SearchFilters.from_args(query)
            options = replace(photo_service.DEFAULT_OPTIONS, search=filters)
            cursor = None
            if label != "first":
                rows = photo_service._grid_rows(user_id, options, None, None, 250)
                cursor = rows["older"]
            steps[label], _ = vm_steps(lambda: photo_service._grid_rows(owner.id, options, cursor, None, PAGE_SIZE))
    assert steps["deep, taken to"] <= 1.5 * max(steps["deep"], steps["first"], 1), steps


def test_a_photos_neighbours_in_a_search_with_a_taken_to_date_are_found_from_the_photo(app, database, user_id):
    """The same for a photo's page opened from such a search: its neighbours are walked from the photo,
    not down from the taken-to date past every photo newer than it."""
    if database.backend != "sqlite":
        pytest.skip("the order of the bounds is SQLite's planner's; PostgreSQL weighs them by their costs")
    from dataclasses import replace

    with app.app_context():
        ids = [add_photo(app, user_id, f"castle-{n}.jpg", n) for n in range(300)]
        photo = db.session.get(Photo, ids[40])  # 259 photos are newer
        steps, found = {}, {}
        for label, query in (("words", {"q": "castle"}), ("words, taken to", {"q": "castle", "taken_to": "2099-01-01"})):
            options = replace(photo_service.DEFAULT_OPTIONS, search=search.SearchFilters.from_args(query))
            steps[label], (newer, older) = vm_steps(lambda: photo_service.neighbours(photo, options))
            found[label] = (newer.id, older.id)
    assert found["words"] == found["words, taken to"] == (ids[41], ids[39])
    assert steps["words, taken to"] <= 1.5 * max(steps["words"], 1), steps


def test_a_page_statement_refuses_a_value_that_is_not_its_parameter(app, user_id):
    """The guard of the statements built once: a value in the statement that the page's parameters do not
    name would be the first page's for every later one, so building such a statement is an error."""
    from sqlalchemy import select

    with app.app_context():
        statement = select(Photo.id).where(Photo.owner_id == user_id, Photo.rating >= 3)
        with pytest.raises(ValueError, match="not its parameters"):
            photo_service._check_parameters(statement, {"grid_owner": user_id})


def test_another_accounts_photos_and_the_trash_are_never_found(app, client, user_id, library):
    assert library["bob"] not in found(client, "q=castle") + found(client, "seed=1234")
    with app.app_context():
        trash.move_to_trash(user_id, [library["castle"]])
    assert found(client, "q=castle") == []


def test_the_words_keep_each_photos_place_through_the_trash_a_new_date_taken_and_the_rebuild(app, client, user_id,
                                                                                            runner):
    """On PostgreSQL a page of words walks a copy of each photo's owner and sorted_at kept beside its
    document (search.walk_documents): a copy out of step would show a photo out of its place, or one
    that is not the owner's. Every write that moves a photo in the order keeps the page right."""
    from sqlalchemy import text
    from test_look import set_taken
    ids = [add_photo(app, user_id, f"harbour-{i}.jpg", i) for i in range(3)]
    add_photo(app, user_id, "forest.jpg", 5)
    assert found(client, "q=harbour") == ids[::-1]
    with app.app_context():
        trash.move_to_trash(user_id, [ids[1]])
    assert found(client, "q=harbour") == [ids[2], ids[0]]
    with app.app_context():
        trash.restore_from_trash(user_id, [ids[1]])
    assert found(client, "q=harbour") == ids[::-1]
    set_taken(app, {ids[0]: T0 + timedelta(hours=9)})  # what a write that changed a date taken must do
    assert found(client, "q=harbour") == [ids[0], ids[2], ids[1]]
    assert found(client, "q=harbour&taken_from=2025-06-01&taken_to=2025-06-01") == [ids[0], ids[2], ids[1]]
    assert runner.invoke(args=["search", "rebuild"]).exit_code == 0
    assert found(client, "q=harbour&order=oldest") == [ids[1], ids[2], ids[0]]
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            drifted = db.session.scalar(text(
                "SELECT count(*) FROM photo_search JOIN photos ON photos.id = photo_search.photo_id "
                "WHERE photo_search.owner_id <> photos.owner_id OR photo_search.sorted_at <> photos.sorted_at"))
            assert drifted == 0


def test_keyset_paging_over_two_pages_keeps_the_search(client, app, user_id):
    ids = [add_photo(app, user_id, f"sunset-{i}.jpg", i) for i in range(5)]
    add_photo(app, user_id, "other.jpg", 9)
    response = client.get("/search?q=sunset")
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    first = [int(box["value"]) for box in page.select(".grid input[name=ids]")]
    older = page.select_one(".pager a[rel=next]")["href"]
    assert "q=sunset" in older
    second = BeautifulSoup(client.get(older).get_data(as_text=True), "html.parser")
    rest = [int(box["value"]) for box in second.select(".grid input[name=ids]")]
    assert first + rest == ids[::-1]
    assert second.select_one(".pager a[rel=next]") is None


def test_the_index_follows_tag_and_album_renames_and_deletes(app, client, user_id, library):
    with app.app_context():
        owner = db.session.get(User, user_id)
        tag = tags.find_tag_named(user_id, "Holiday")
        tags.rename_tag(owner, tag, "Vacation")
        albums.edit_album(owner, albums.find_album(user_id, library["album"]), "Alpine trip", "")
    assert found(client, "q=holiday") == [] and found(client, "q=vacation") == [library["canon"]]
    assert found(client, "q=bavaria") == [] and found(client, "q=alpine") == [library["canon"]]
    with app.app_context():
        owner = db.session.get(User, user_id)
        tags.delete_tag(owner, tags.find_tag_named(user_id, "Vacation"))
        albums.remove_photos(user_id, library["album"], [library["canon"]])
        tags.tag_photos(owner, [library["nikon"]], ["Portrait"])
    assert found(client, "q=vacation") == [] and found(client, "q=alpine") == []
    assert found(client, "q=portrait") == [library["nikon"]]
    with app.app_context():
        photo_service.delete_photo(db.session.get(Photo, library["nikon"]))
        assert _documents(app) == 4  # the deleted photo's document went with it


def _documents(app) -> int:
    from sqlalchemy import text
    return db.session.scalar(text("SELECT count(*) FROM photo_search"))


def test_the_rebuild_command_makes_every_document_anew(app, runner, library):
    with app.app_context():
        from sqlalchemy import text
        db.session.execute(text("DELETE FROM photo_search"))
        db.session.commit()
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "5 photos" in result.output
    with app.app_context():
        assert _documents(app) == 5


HOSTILE = ['NEAR(a b)', 'a AND', 'OR', 'NOT x', '^x', 'col:x', '*', '"', '""', '"unclosed', "'", "a'b", '(x', ')',
           '%', '_', '%_%', '\\', "a\x00b", "-", "--", "-x", "x" * 10_000, "a OR b) NOT (c", "x:*", "!x", "&|",
           "<->", "'':*", "ä" * 400, "{x}", "a+b", "NEAR/2"]


@pytest.mark.parametrize("words", HOSTILE)
def test_hostile_words_are_a_200_or_a_400_in_words_never_a_500(client, library, words):
    from urllib.parse import quote
    for name in ("q", "camera", "tag", "model", "prompt_of", "taken_from"):
        response = client.get(f"/search?{name}={quote(words)}")
        assert response.status_code in (200, 400), (name, words, response.status_code)
        if response.status_code == 400:
            assert "search" in response.get_data(as_text=True).lower() or name in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["seed=x", "steps_min=1.5", "cfg_min=nan", "taken_from=yesterday",
                                   "steps_min=9&steps_max=1", "gps=2", "q=-", "q=-word", "seed=" + "9" * 30,
                                   "album=x", "sort=sideways"])
def test_bad_values_are_a_400_in_words(client, query):
    response = client.get(f"/search?{query}")
    assert response.status_code == 400


def test_the_header_has_a_search_box_and_a_generated_photo_links_to_photos_like_it(client, library):
    page = BeautifulSoup(client.get(f"/photos/{library['castle']}").get_data(as_text=True), "html.parser")
    assert page.select_one("header form.search-box input[name=q]") is not None  # on every page but search
    links = {a.get_text(): a["href"] for a in page.select(".like-this a")}
    assert set(links) == {"same prompt", "same seed", "same model"}
    for href in links.values():
        assert library["castle"] in found(client, href.split("?", 1)[1])
    assert found(client, links["same seed"].split("?", 1)[1]) == [library["castle"]]


def test_the_parser_quotes_every_term():
    terms = search.parse_words('red "big castle" -ugly mount* NEAR(x')
    assert search.fts5_query(terms) == '("red" AND "big castle" AND "mount"* AND "NEAR x") NOT ("ugly")'
    assert search.tsquery_text(terms) == "('red') & ('big' <-> 'castle') & !('ugly') & ('mount':*) & ('NEAR' <-> 'x')"


def test_deleting_a_tag_of_more_photos_than_a_statement_takes_parameters_keeps_the_index_in_step(app, client, user_id):
    """40,000 tagged photos: more ids than SQLite takes in one statement (32,766)."""
    from sqlalchemy import insert, literal, select
    from app.models import PhotoTag, Tag
    with app.app_context():
        rows = [{"owner_id": user_id, "source": "uploaded", "original_path": f"uploaded/2025-01-01/{i}.jpg",
                 "thumbnail_ext": "jpg", "original_name": f"bulk-{i}.jpg", "sha256": f"{i:064d}", "format": "JPEG",
                 "mime_type": "image/jpeg", "file_size": 1, "width": 1, "height": 1, "uploaded_at": T0,
                 "sorted_at": T0, "favourite": False, "rating": 0} for i in range(40_000)]
        db.session.execute(insert(Photo.__table__), rows)
        db.session.execute(insert(Tag.__table__).values(owner_id=user_id, name="Massive", name_key="massive", created_at=T0))
        tag_id = db.session.scalar(select(Tag.id))
        db.session.execute(insert(PhotoTag.__table__).from_select(["photo_id", "tag_id", "sorted_at"],
                                                                   select(Photo.id, literal(tag_id), Photo.sorted_at)))
        search.rebuild_search_index()
        db.session.commit()
    assert len(found(client, "q=massive")) == PAGE_SIZE
    with app.app_context():
        tags.delete_tag(db.session.get(User, user_id), db.session.get(Tag, tag_id))
    assert found(client, "q=massive") == []
    assert len(found(client, "q=bulk")) == PAGE_SIZE  # the file names still say it


def test_a_search_asked_again_comes_from_the_cache_until_the_library_changes(app, client, user_id, library):
    """The page and the album choices are cached with the library: asked again, a search page runs one
    statement (the signed-in user); a new album shows in the Album select at once, and a photo newly
    matching the words in the results."""
    from sqlalchemy import event
    seen = []
    with app.app_context():
        engine = db.engine
    client.get("/search?q=castle")  # cold: the page and the albums are read and cached

    def record(connection, cursor, statement, *rest):
        seen.append(statement)

    def statements(url: str) -> tuple[int, str]:
        seen.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            html = client.get(url).get_data(as_text=True)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(seen), html

    count, html = statements("/search?q=castle")
    assert count == 1, seen
    assert found(client, "q=castle") == [library["castle"]]
    with app.app_context():
        albums.create_album(db.session.get(User, user_id), "Castles of Europe")
    newer = add_photo(app, user_id, "castle-2.jpg", 9)
    count, html = statements("/search?q=castle")
    assert count > 1 and "Castles of Europe" in html
    assert found(client, "q=castle") == [newer, library["castle"]]


def test_postgresql_makes_the_words_query_once_a_statement_not_once_a_row(app, library):
    """unaccent() is STABLE: to_tsquery(unaccent(words)) in a plan is run again for every row it tests
    (a page of words walks 1,311 photos at 100,000: tests/benchmarks/README.md has the figures); through
    gallery_unaccent (IMMUTABLE) the plan holds the query as a constant, made when it was planned."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite's FTS5 reads the words once a statement by itself")
        statement = search.matching_ids(search.parse_words("Café castle*")).compile(db.engine)
        plan = "\n".join(row[0] for row in db.session.connection().exec_driver_sql(
            "EXPLAIN " + str(statement), statement.params))
    assert "'''cafe'' & ''castle'':*'::tsquery" in plan, plan  # a constant, its accent gone
    assert "unaccent" not in plan and "to_tsquery" not in plan, plan

"""A search result downloads as one zip of every photo it finds, beyond the first page, and nothing else:
the zip is read back and each member's bytes compared with the original on disk."""
from __future__ import annotations

import pytest
from testapp import jpeg, upload_as
from test_zips import originals, read_zip


@pytest.fixture
def app_config():
    return {"PAGE_SIZE": 2}  # three matches span two pages: the zip must hold all three


def test_a_search_result_downloads_as_a_zip_of_every_match_in_its_order(app, client, make_user):
    matches = [upload_as(client, jpeg((40 * i, 0, 0)), f"harbour {i}.jpg") for i in range(3)]
    upload_as(client, jpeg((0, 90, 0)), "mountain.jpg")  # not a match
    page = client.get("/search?q=harbour")
    assert b"Download all as zip" in page.data
    response = client.get("/search/download?q=harbour&order=oldest")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="search harbour.zip"')
    archive = read_zip(response)
    assert archive.namelist() == ["harbour 0.jpg", "harbour 1.jpg", "harbour 2.jpg"]  # oldest first, as asked
    files = originals(app, matches)
    assert [archive.read(name) for name in archive.namelist()] == [files[i] for i in matches]


def test_a_download_without_a_search_goes_back_to_search_and_another_accounts_album_is_a_404(app, client):
    response = client.get("/search/download", follow_redirects=True)
    assert response.request.path == "/search"
    assert b"Search for something first" in response.data
    assert client.get("/search/download?album=999999").status_code == 404

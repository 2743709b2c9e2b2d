"""Generating in a real browser: the form, the session page filling in as it polls, K / Reject, the kept photo.

Same live server, Chromium and CSRF-on app as test_browser.py, whose fixtures this module imports (pytest
registers fixtures imported into a test module); `page` is its page, signed in as alice through the form.
InvokeAI is the fake of fake_invokeai.py: each GET of a queue item is one tick, so the images finish only
because the session page keeps polling.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name in this module)
    base_url,
    browser_context_args,
    browser_type_launch_args,
    grid_images,
    live_server,
    loaded_width,
    page,
    page_errors,
)

# Characters the templates must escape, and the form and the JSON must carry unchanged.
PROMPT = 'a lighthouse <at> "dusk" & sea'
IMAGES_TIMEOUT = 15_000  # ms for both candidates to finish: a poll every 1.5 s, about three ticks per image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture
def app_config(fake_invokeai) -> dict:
    return {"WTF_CSRF_ENABLED": True, "INVOKEAI_URL": fake_invokeai.url,
            "INVOKEAI_CONNECT_TIMEOUT": 2.0, "INVOKEAI_READ_TIMEOUT": 3.0, "INVOKEAI_DEADLINE": 5.0}


def candidates(page: Page):
    return page.locator("ol.candidates > li.candidate")


def test_generate_two_images_keep_one_reject_one_then_reuse_the_settings(page: Page, page_errors, fake_invokeai):
    model = next(m for m in fake_invokeai.models if m["base"] == "sd-1" and m["type"] == "main")

    page.locator("header.site nav").get_by_role("link", name="Generate").click()
    expect(page).to_have_url(re.compile(r"/generate$"))
    form_url = page.url
    expect(page.locator("h1")).to_have_text("Generate with InvokeAI")
    page.get_by_role("textbox", name="Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Model").select_option(model["key"])
    page.get_by_label("Width").fill("64")
    page.get_by_label("Height").fill("64")
    page.get_by_label("Steps").fill("2")
    page.get_by_label("Images").fill("2")
    documents: list[tuple[str, str]] = []  # every page the browser loads from here on
    page.on("request", lambda request: documents.append((request.method, request.url))
            if request.resource_type == "document" else None)
    with page.expect_response(re.compile(r"/generate/sessions/\d+$")) as landed:
        page.get_by_role("button", name="Generate").click()

    # Straight to the session page, rendered before anything had finished on InvokeAI.
    session_html = landed.value.text()
    assert session_html.count('data-state="queued"') == 2, session_html
    assert "&lt;at&gt; &#34;dusk&#34; &amp; sea" in session_html or "&lt;at&gt; &quot;dusk&quot; &amp; sea" in \
        session_html
    expect(page).to_have_url(re.compile(r"/generate/sessions/\d+$"))
    session_url = page.url
    expect(page.locator("h1")).to_have_text(PROMPT)
    cards = candidates(page)
    expect(cards).to_have_count(2)

    # The page's polling makes the fake progress; both images arrive without a reload.
    expect(cards.locator("img")).to_have_count(2, timeout=IMAGES_TIMEOUT)
    for img in cards.locator("img").all():
        assert loaded_width(img) > 0, f"candidate image {img.get_attribute('src')} did not load"
    expect(cards.locator("[data-state-text]")).to_have_text(["done", "done"])
    assert page.url == session_url

    # K on the focused first card keeps it; the second card's Reject button rejects it.
    first, second = cards.nth(0), cards.nth(1)
    first.focus()
    page.keyboard.press("k")
    expect(first.locator("[data-decision-text]")).to_have_text("kept")
    expect(first).to_have_attribute("data-decision", "kept")
    expect(first.get_by_role("link", name="In the gallery")).to_have_attribute("href", re.compile(r"/photos/\d+$"))
    expect(first.get_by_role("button", name="Keep")).to_be_disabled()
    expect(first.get_by_role("button", name="Reject")).to_be_disabled()

    second.get_by_role("button", name="Reject").click()
    expect(second.locator("[data-decision-text]")).to_have_text("rejected")
    expect(second).to_have_attribute("data-decision", "rejected")
    expect(second.get_by_role("link", name="In the gallery")).to_have_count(0)
    expect(page.locator("[data-problem]")).to_be_hidden()
    # The form's POST, its redirect to the session page, and no reload since.
    assert documents == [("POST", form_url), ("GET", session_url)], documents
    photo_href = first.get_by_role("link", name="In the gallery").get_attribute("href")

    # The grid of generated photos: just the kept one, its thumbnail loaded.
    page.goto("/?source=generated")
    expect(page.locator("h1")).to_have_text("1 photo")
    expect(grid_images(page)).to_have_count(1)
    assert loaded_width(grid_images(page).first) > 0
    page.locator("ul.grid a").first.click()
    expect(page).to_have_url(re.compile(re.escape(photo_href) + r"(\?source=generated)?$"))
    assert loaded_width(page.locator("img.preview")) > 0

    # The prompt shows as typed: escaped once, as text, not markup.
    generation = page.locator("section.generation")
    prompt_cell = generation.locator("#prompt-text")
    expect(prompt_cell).to_have_text(PROMPT)
    assert prompt_cell.inner_html() == "a lighthouse &lt;at&gt; \"dusk\" &amp; sea"
    expect(page.locator("at")).to_have_count(0)
    expect(page.locator(".stage img.preview")).to_have_attribute("alt", PROMPT)  # the prompt says what it shows
    expect(generation.locator("dl > div", has=page.locator("dt", has_text="Model")).locator("dd")).to_have_text(
        model["name"])
    expect(generation.locator("dl > div", has=page.locator("dt", has_text="Size")).locator("dd")).to_have_text("64 × 64")
    copy = generation.get_by_role("button", name="Copy").first
    expect(copy).to_be_visible()  # with JavaScript, on a loopback (secure) origin
    expect(page.get_by_role("button", name="Generate again")).to_be_visible()
    expect(page.get_by_role("link", name="Use these settings")).to_be_visible()

    # Use these settings: the form again, filled with this photo's parameters.
    page.get_by_role("link", name="Use these settings").click()
    expect(page).to_have_url(re.compile(r"/generate\?from_photo=\d+$"))
    expect(page.get_by_role("textbox", name="Prompt", exact=True)).to_have_value(PROMPT)
    expect(page.get_by_label("Model")).to_have_value(model["key"])
    expect(page.get_by_label("Width")).to_have_value("64")
    expect(page.get_by_label("Height")).to_have_value("64")
    expect(page.get_by_label("Steps")).to_have_value("2")
    assert page_errors == []


def test_the_session_page_says_so_when_its_session_is_gone(page: Page, page_errors, fake_invokeai):
    """Discarded in another tab: the next poll answers 404 in JSON, which the page shows (no script error)."""
    fake_invokeai.steps_to_finish = 1000  # the image stays in progress while the page polls
    model = next(m for m in fake_invokeai.models if m["base"] == "sd-1" and m["type"] == "main")
    page.goto("/generate")
    page.get_by_role("textbox", name="Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Model").select_option(model["key"])
    page.get_by_label("Width").fill("64")
    page.get_by_label("Height").fill("64")
    page.get_by_role("button", name="Generate").click()
    expect(page).to_have_url(re.compile(r"/generate/sessions/\d+$"))
    expect(candidates(page).locator("[data-state-text]")).to_have_text(["in progress"])

    # Another tab discards the session (the same POST its "Discard the rest" button sends).
    answer = page.evaluate("""async () => {
        const form = document.querySelector('form[action$="/discard"]');
        const token = form.querySelector("input[name=csrf_token]").value;
        return (await fetch(form.action, { method: "POST", body: new URLSearchParams({ csrf_token: token }) })).status;
    }""")
    assert answer == 200  # after the redirect to the sessions list
    # The next poll: 404 with the error page's JSON, not the status answer.
    with page.expect_response(lambda response: response.url.endswith("/status") and response.status == 404):
        pass
    expect(page.locator("[data-problem]")).to_be_visible()
    expect(page.locator("[data-problem]")).to_have_text(re.compile(r"^No such generation session\."))
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/status") else None)
    page.wait_for_timeout(2000)  # longer than the 1.5 s between polls
    assert polls == [], "the page kept polling a session that is gone"
    assert page_errors == []


def test_the_page_stops_polling_once_invokeai_forgot_its_items(page: Page, page_errors, fake_invokeai):
    """InvokeAI's Clear button while the page polls: the images end failed, saying why, and the polling stops."""
    import requests

    fake_invokeai.steps_to_finish = 1000  # running until the queue is cleared
    model = next(m for m in fake_invokeai.models if m["base"] == "sd-1" and m["type"] == "main")
    page.goto("/generate")
    page.get_by_role("textbox", name="Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Model").select_option(model["key"])
    page.get_by_label("Width").fill("64")
    page.get_by_label("Height").fill("64")
    page.get_by_role("button", name="Generate").click()
    expect(candidates(page).locator("[data-state-text]")).to_have_text(["in progress"])

    assert requests.put(f"{fake_invokeai.url}/api/v1/queue/default/clear", timeout=5).json() == {"deleted": 1}
    expect(candidates(page).locator("[data-state-text]")).to_have_text(["failed"], timeout=IMAGES_TIMEOUT)
    expect(candidates(page).locator(".problem")).to_have_text(re.compile(r"^InvokeAI no longer has this image"))
    expect(page.locator("[data-problem]")).to_be_hidden()
    polls = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/status") else None)
    page.wait_for_timeout(2000)  # longer than the 1.5 s between polls
    assert polls == [], "the page kept polling a session with nothing open"
    assert page_errors == []


def test_the_form_shows_the_fields_of_the_chosen_models_base(page: Page, page_errors, fake_invokeai):
    """Changing the model shows its base's fields with its defaults; a size typed in stays; what is hidden
    is not sent."""
    key = {m["name"]: m["key"] for m in fake_invokeai.models}
    page.goto("/generate")
    negative, cfg, guidance = (page.get_by_label("Negative prompt"), page.get_by_label("CFG scale"),
                               page.get_by_label("Guidance"))
    width, steps, scheduler = page.get_by_label("Width"), page.get_by_label("Steps"), page.get_by_label("Scheduler")
    expect(negative).to_be_visible()
    expect(cfg).to_have_value("7.5")
    expect(guidance).to_be_hidden()
    expect(page.locator("[data-base-note]")).to_contain_text("Stable Diffusion 1: 512 × 512 by default")

    page.get_by_label("Model").select_option(key["flux1-dev"])
    expect(negative).to_be_hidden()
    expect(cfg).to_be_hidden()
    expect(guidance).to_be_visible()
    expect(guidance).to_have_value("4")
    expect(width).to_have_value("1024")
    assert width.get_attribute("step") == "16"
    assert sorted(scheduler.locator("option:not([hidden])").all_inner_texts()) == ["euler", "heun", "lcm"]
    expect(page.locator("[data-base-note]")).to_contain_text("FLUX.1: 1024 × 1024 by default")

    page.get_by_label("Model").select_option(key["flux2-klein-4b"])
    expect(guidance).to_be_hidden()
    expect(steps).to_have_value("4")

    width.fill("640")
    page.get_by_label("Model").select_option(key["sdxl-base-1.0"])
    expect(negative).to_be_visible()
    expect(cfg).to_be_visible()
    expect(width).to_have_value("640")  # typed in: kept
    expect(page.get_by_label("Height")).to_have_value("1024")
    expect(steps).to_have_value("30")

    page.get_by_label("Model").select_option(key["flux1-dev"])
    page.get_by_role("textbox", name="Prompt", exact=True).fill(PROMPT)
    width.fill("64")
    page.get_by_label("Height").fill("64")
    steps.fill("2")
    with page.expect_response(re.compile(r"/generate/sessions/\d+$")):
        page.get_by_role("button", name="Generate").click()
    [batch] = fake_invokeai.enqueued_batches()
    denoise = batch["graph"]["nodes"]["denoise"]
    assert (denoise["type"], denoise["guidance"], denoise["width"], denoise["num_steps"]) == \
        ("flux_denoise", 4.0, 64, 2)
    assert page_errors == []


def test_a_generation_saved_while_invokeai_is_down_waits_in_words_and_goes_out_when_it_is_back(
        page: Page, page_errors, fake_invokeai, monkeypatch):
    """The form's second button saves it; its page says it waits, then (the page polling) it is sent and
    runs. Screenshots at 400 and 1400 px under /tmp/shots-queue/ for a person to look at."""
    from app.services import generation  # the pause between sends after a failure, shortened for the test
    monkeypatch.setattr(generation, "SEND_AGAIN_EVERY", 0.0)
    shots = Path("/tmp/shots-queue")
    shots.mkdir(exist_ok=True)
    model = next(m for m in fake_invokeai.models if m["base"] == "sd-1" and m["type"] == "main")
    page.goto("/generate")
    page.get_by_role("textbox", name="Prompt", exact=True).fill("a lighthouse in a storm")
    page.get_by_label("Model").select_option(model["key"])
    for label, value in (("Width", "64"), ("Height", "64"), ("Steps", "2"), ("Images", "2")):
        page.get_by_label(label).fill(value)
    fake_invokeai.stop()
    page.get_by_role("button", name="Generate", exact=True).click()
    expect(page.locator("p.problem[role=alert]")).to_contain_text("cannot be reached")
    for name, size in (("phone", {"width": 400, "height": 900}), ("wide", {"width": 1400, "height": 1000})):
        page.set_viewport_size(size)
        page.screenshot(path=str(shots / f"form-offer-{name}.png"), full_page=True)
    page.get_by_role("button", name="Save and send when InvokeAI is back").click()
    expect(page).to_have_url(re.compile(r"/generate/sessions/\d+$"))
    waiting = page.locator("[data-waiting]")
    expect(waiting).to_have_text(f"Waiting for InvokeAI at {fake_invokeai.url}: it will be sent when the server "
                                 "answers.")
    session_url = page.url
    for name, size in (("phone", {"width": 400, "height": 900}), ("wide", {"width": 1400, "height": 1000})):
        page.set_viewport_size(size)
        page.screenshot(path=str(shots / f"session-waiting-{name}.png"), full_page=True)
        page.goto("/generate/sessions")
        expect(page.locator(".gen-status-waiting")).to_have_text("waiting for InvokeAI")
        page.screenshot(path=str(shots / f"sessions-waiting-{name}.png"), full_page=True)
        page.goto(session_url)
    fake_invokeai.restart()  # the page's polling sends it
    expect(waiting).to_be_hidden(timeout=IMAGES_TIMEOUT)
    expect(candidates(page).locator("img")).to_have_count(2, timeout=IMAGES_TIMEOUT)
    assert len(fake_invokeai.enqueued_batches()) == 1
    assert page_errors == []

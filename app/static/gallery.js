// Progressive enhancement only: every page works without this file.
"use strict";

// Arrow keys follow the page's <link rel="prev"> / <link rel="next">.
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target.closest("input, textarea, select")) return;
  if (document.querySelector(".frame.zoomed")) return;  // a zoomed photo's arrows pan it
  const rel = { ArrowLeft: "prev", ArrowRight: "next" }[event.key];
  const link = rel && document.querySelector(`link[rel="${rel}"]`);
  if (link) window.location.href = link.href;
});

// Upload forms: drag and drop, and one request per file with its own progress bar.
for (const form of document.querySelectorAll("form[data-upload]")) {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const list = form.querySelector(".upload-progress");
  const token = form.querySelector("input[name=csrf_token]").value;

  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    input.files = event.dataTransfer.files;
    form.requestSubmit();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const files = Array.from(input.files);
    if (files.length === 0) return;
    list.replaceChildren();
    let stored = 0;
    for (const file of files) {
      const outcome = await uploadOne(form.action, token, file, addRow(list, file.name));
      if (outcome === "stored") stored += 1;
    }
    input.value = "";
    const done = document.createElement("li");
    const link = document.createElement("a");
    link.href = window.location.pathname === "/" ? window.location.href : "/";
    link.textContent = `${stored} stored. Show the gallery`;
    done.append(link);
    list.append(done);
  });
}

function addRow(list, name) {
  const row = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = name;
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  const status = document.createElement("span");
  status.textContent = "waiting";
  row.append(label, bar, status);
  list.append(row);
  return { bar, status };
}

function uploadOne(url, token, file, row) {
  return new Promise((resolve) => {
    const body = new FormData();
    body.append("photos", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", token);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) row.bar.value = (100 * event.loaded) / event.total;
      row.status.textContent = "uploading";
    });
    xhr.addEventListener("load", () => {
      row.bar.value = 100;
      let result = "rejected";
      let message = `the server answered ${xhr.status}`;
      let href = null;
      try {
        const data = JSON.parse(xhr.responseText);
        const outcome = data.files ? data.files[0] : null;
        if (outcome) ({ result, message, url: href } = outcome);
        else if (data.error) message = data.error;
      } catch (error) { /* not JSON: keep the status line */ }
      row.status.className = result;
      row.status.replaceChildren();
      if (href) {
        const link = document.createElement("a");
        link.href = href;
        link.textContent = result === "stored" ? "stored" : "duplicate: view the existing photo";
        row.status.append(link);
      } else {
        row.status.textContent = `${result}: ${message}`;
      }
      resolve(result);
    });
    xhr.addEventListener("error", () => {
      row.status.className = "rejected";
      row.status.textContent = "network error: the upload did not reach the gallery";
      resolve("rejected");
    });
    xhr.send(body);
  });
}

// Generation session page: poll the status route, show images as they arrive, keep/reject by key.
const STATE_WORDS = { queued: "queued", in_progress: "in progress", downloading: "downloading", done: "done",
                      failed: "failed", canceled: "canceled" };

for (const section of document.querySelectorAll("[data-session]")) {
  const token = section.querySelector("input[name=csrf_token]").value;
  const problem = section.querySelector("[data-problem]");
  const cards = () => Array.from(section.querySelectorAll(".candidate"));

  const poll = async () => {
    let data = null;
    let status = 0;
    try {
      const response = await fetch(section.dataset.statusUrl, {
        method: "POST", headers: { Accept: "application/json", "X-CSRFToken": token } });
      status = response.status;
      data = await response.json();
    } catch (error) {
      problem.textContent = "The gallery did not answer; trying again.";
      problem.hidden = false;
    }
    if (data) {
      const message = data.problem || data.error || "";
      problem.textContent = message;
      problem.hidden = !message;
      const waiting = section.querySelector("[data-waiting]");  // saved while InvokeAI was away
      if (waiting && data.waiting === false) waiting.hidden = true;
      if (data.images) {
        for (const image of data.images) updateCard(section, image);
        if (data.finished && !data.problem) return;
      } else if (status >= 400 && status < 500 && status !== 429) {
        return;  // an error page's JSON (session gone, logged out, stale token): asking again will not help
      }
    }
    window.setTimeout(poll, 1500);
  };
  if (section.dataset.finished !== "true") poll();

  for (const form of section.querySelectorAll("form[data-decide]")) {
    form.addEventListener("submit", (event) => { event.preventDefault(); decide(form, token, section); });
  }

  section.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.target.closest("input, textarea, select")) return;
    const card = event.target.closest(".candidate") || cards()[0];
    if (!card) return;
    const key = event.key.toLowerCase();
    if (key === "k" || key === "x") {
      const form = card.querySelector(`form[data-decide="${key === "k" ? "keep" : "reject"}"]`);
      if (!form.querySelector("button").disabled) decide(form, token, section);
      event.preventDefault();
    } else if (["arrowright", "arrowleft", "arrowdown", "arrowup"].includes(key)) {
      const all = cards();
      const step = key === "arrowright" || key === "arrowdown" ? 1 : -1;
      const next = all[Math.min(all.length - 1, Math.max(0, all.indexOf(card) + step))];
      next.focus();
      event.preventDefault();
    }
  });
  const first = cards()[0];
  if (first) first.focus({ preventScroll: true });
}

async function decide(form, token, section) {
  // The form names the picture shown (image_name): a page gone stale is answered 409, not acted on.
  const response = await fetch(form.action, {
    method: "POST", headers: { Accept: "application/json", "X-CSRFToken": token },
    body: new URLSearchParams(new FormData(form)) });
  const problem = section.querySelector("[data-problem]");
  try {
    const data = await response.json();
    if (data.image) updateCard(section, data.image);
    const message = data.problem || data.error || "";
    problem.textContent = message;
    problem.hidden = !message;
  } catch (error) {
    problem.textContent = `The gallery answered ${response.status}.`;
    problem.hidden = false;
  }
}

function updateCard(section, image) {
  const card = section.querySelector(`.candidate[data-image-id="${image.id}"]`);
  if (!card) return;
  card.dataset.state = image.state;
  card.dataset.decision = image.decision;
  let words = STATE_WORDS[image.state] || image.state;
  if (image.state === "queued" && image.place) words += ` (#${image.place} in line)`;
  card.querySelector("[data-state-text]").textContent = words;
  const frame = card.querySelector(".frame");
  if (image.grid_url && !frame.querySelector("img")) {
    const img = document.createElement("img");
    img.src = image.grid_url;
    img.alt = `seed ${image.seed}`;
    frame.append(img);
  }
  let error = card.querySelector(".problem");
  if (image.error && !error) {
    error = document.createElement("p");
    error.className = "problem";
    card.querySelector(".state").after(error);
  }
  if (error) error.textContent = image.error || "";
  let decision = card.querySelector("[data-decision-text]");
  if (image.decision !== "undecided") {
    if (!decision) {
      decision = document.createElement("span");
      decision.dataset.decisionText = "";
      card.querySelector(".state").append(" · ", decision);
    }
    decision.textContent = image.decision;
  }
  if (image.photo_url && !card.querySelector("a.in-gallery")) {
    const link = document.createElement("a");
    link.className = "in-gallery";
    link.href = image.photo_url;
    link.textContent = "In the gallery";
    card.append(link);
  }
  for (const input of card.querySelectorAll("form[data-decide] input[name=image_name]")) {
    input.value = image.image_name || "";
  }
  card.querySelector('form[data-decide="keep"] button').disabled = image.state !== "done" || image.decision === "kept";
  card.querySelector('form[data-decide="reject"] button').disabled = image.decision === "kept" || image.decision === "rejected";
}

// Favourites and ratings: the photo page's heart and stars, and the grid's hearts, sent with fetch
// (the forms post and come back without this); on a photo's page F toggles the heart, 0-5 set the stars.
function csrfToken() {
  const input = document.querySelector("input[name=csrf_token]");  // every signed-in page has one
  return input ? input.value : "";
}

async function sendMark(url, name, value) {
  // The photo's marks as the gallery now holds them, or an Error with its words.
  const response = await fetch(url, {
    method: "POST", headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    body: new URLSearchParams({ [name]: value }) });
  let data = null;
  try { data = await response.json(); } catch (error) { /* not JSON: said below */ }
  if (!response.ok || !data || !data.photo) {
    throw new Error((data && data.error) || `The gallery answered ${response.status}.`);
  }
  return data.photo;
}

for (const section of document.querySelectorAll("[data-marks]")) {
  const heartForm = section.querySelector('form[data-mark="favourite"]');
  const starsForm = section.querySelector('form[data-mark="rating"]');
  const heart = heartForm.querySelector("button");
  const problem = section.querySelector("[data-problem]");

  const show = (photo) => {
    heart.setAttribute("aria-pressed", String(photo.favourite));
    heart.value = photo.favourite ? "0" : "1";
    heart.querySelector(".label").textContent = photo.favourite ? "Favourite" : "Add to favourites";
    starsForm.dataset.rating = String(photo.rating);
    starsForm.querySelector(".stars").setAttribute("aria-label", `Rating: ${photo.rating} of 5 stars`);
    for (const star of starsForm.querySelectorAll("button[data-stars]")) {
      const n = Number(star.dataset.stars);
      star.setAttribute("aria-pressed", String(n <= photo.rating));
      star.value = n === photo.rating ? "0" : String(n);
    }
  };
  const mark = async (form, name, value) => {
    try {
      show(await sendMark(form.action, name, value));
      problem.hidden = true;
    } catch (error) {
      problem.textContent = error.message;
      problem.hidden = false;
    }
  };
  for (const form of [heartForm, starsForm]) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const button = event.submitter;
      if (button && button.name) mark(form, button.name, button.value);
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "f" || event.key === "F") {
      mark(heartForm, "favourite", heart.value);
    } else if (/^[0-5]$/.test(event.key)) {
      mark(starsForm, "rating", event.key);
    } else {
      return;
    }
    event.preventDefault();
  });
}

// The grid: a heart on each tile (hidden without this script, where the photo's page has the form).
for (const heart of document.querySelectorAll("ul.grid button.heart[data-favourite-url]")) {
  heart.hidden = false;
  heart.addEventListener("click", async () => {
    const wanted = heart.getAttribute("aria-pressed") !== "true";
    heart.disabled = true;
    try {
      const photo = await sendMark(heart.dataset.favouriteUrl, "favourite", wanted ? "1" : "0");
      heart.setAttribute("aria-pressed", String(photo.favourite));
      heart.title = "";
    } catch (error) {
      heart.title = error.message;  // the tile keeps its state; the title says why
    } finally {
      heart.disabled = false;
    }
  });
}

// The grid's sort and filter form: shown at once on change, with only the choices that differ from
// the defaults in the URL (the same page the form's plain submit reaches).
for (const form of document.querySelectorAll("form[data-arrange]")) {
  form.classList.add("live");
  form.addEventListener("change", () => form.requestSubmit());
  form.addEventListener("submit", () => {
    for (const select of form.querySelectorAll("select[data-default]")) {
      if (select.value === select.dataset.default) select.disabled = true;  // left out of the query
    }
  });
  // Coming back to this page from the history shows the form as it was left: usable again.
  window.addEventListener("pageshow", () => {
    for (const select of form.querySelectorAll("select")) select.disabled = false;
  });
}

// Selection of many (the grid and the trash page): the checkboxes show on a tile's hover or focus,
// shift-click ticks a range, "Select page" ticks every tile, and the action bar says how many are
// selected. While any photo is selected a plain click on a tile ticks it instead of opening it.
// The form posts as it does without this script.
for (const form of document.querySelectorAll("form[data-selection]")) {
  const grid = document.querySelector("ul[data-selectable]");
  if (!grid) continue;
  const boxes = Array.from(grid.querySelectorAll('input[type=checkbox][form="selection"]'));
  const count = form.querySelector("[data-selected-count]");
  const selectPage = form.querySelector("[data-select-page]");
  const selectNone = form.querySelector("[data-select-none]");
  const action = form.querySelector("select[name=action]");
  const rating = form.querySelector("select[name=rating]");
  const tagField = form.querySelector("[data-tag-field]");
  let last = null;  // the box ticked or unticked last: one end of a shift-click's range

  form.classList.add("live");
  grid.classList.add("live-selection");
  selectPage.hidden = false;
  selectNone.hidden = false;

  const update = () => {
    const selected = boxes.filter((box) => box.checked).length;
    form.classList.toggle("active", selected > 0);
    grid.classList.toggle("selecting", selected > 0);
    count.textContent = selected === 0 ? "Select photos to act on them" : `${selected} selected`;
    selectPage.hidden = selected === boxes.length;
    selectNone.hidden = selected === 0;
    if (rating) rating.closest("label").hidden = action.value !== "rate";
    if (tagField) {
      const named = action.value === "tag" || action.value === "untag";
      tagField.hidden = !named;
      tagField.querySelector("input").required = named && selected > 0;
    }
  };
  const tick = (box, checked, shift) => {
    if (shift && last !== null && last !== box) {
      const [from, to] = [boxes.indexOf(last), boxes.indexOf(box)].sort((a, b) => a - b);
      for (const other of boxes.slice(from, to + 1)) other.checked = checked;
    }
    box.checked = checked;
    last = box;
    update();
  };

  for (const box of boxes) {
    // The click has already toggled the box; a shift-click carries its new state over the range.
    box.addEventListener("click", (event) => tick(box, box.checked, event.shiftKey));
    const link = box.closest("li").querySelector("a");
    link.addEventListener("click", (event) => {
      if (!grid.classList.contains("selecting") && !event.shiftKey) return;  // opens the photo
      if (event.ctrlKey || event.metaKey || event.button !== 0) return;  // a new tab still opens it
      event.preventDefault();
      tick(box, !box.checked, event.shiftKey);
    });
  }
  selectPage.addEventListener("click", () => {
    for (const box of boxes) box.checked = true;
    last = null;
    update();
  });
  selectNone.addEventListener("click", () => {
    for (const box of boxes) box.checked = false;
    last = null;
    update();
  });
  action.addEventListener("change", () => {
    update();
    if (tagField && !tagField.hidden) tagField.querySelector("input").focus();
  });
  if (tagField) fillTagList(tagField.querySelector("input"));
  window.addEventListener("pageshow", update);  // boxes the browser kept ticked on coming back
  update();
}

// A photo's page: Escape back to the grid, swipe to the neighbours, click or Z to zoom to the original's
// pixels (drag to pan), the information panel's fold remembered, I folds it, Copy for the prompt.
const INFO_OPEN = "gallery.info-open";

for (const viewer of document.querySelectorAll("[data-viewer]")) {
  const stage = viewer.querySelector("[data-stage]");
  const frame = viewer.querySelector("[data-frame]");
  const image = frame.querySelector("img");
  const zoomButton = viewer.querySelector("[data-zoom-toggle]");
  const info = viewer.querySelector("[data-info]");
  const fullWidth = Number(image.dataset.fullWidth);
  const fullHeight = Number(image.dataset.fullHeight);
  const go = (rel) => {
    const link = document.querySelector(`link[rel="${rel}"]`);
    if (link) window.location.href = link.href;
  };
  // The narrow layout's stage is as tall as the photo needs (the CSS guesses 3:2 without this).
  stage.style.setProperty("--stage-height", `calc(100vw * ${fullHeight / fullWidth} + 3.75rem)`);

  // The panel: open unless this browser folded it last time.
  try {
    if (window.localStorage.getItem(INFO_OPEN) === "false") info.open = false;
  } catch (error) { /* storage refused (private mode): the panel opens */ }
  info.addEventListener("toggle", () => {
    try { window.localStorage.setItem(INFO_OPEN, String(info.open)); } catch (error) { /* not kept */ }
  });

  // Zoom: 100 % is one pixel of the original per CSS pixel; the point clicked stays under the pointer.
  let zoomed = false;
  const zoom = (on, clientX, clientY) => {
    if (on === zoomed) return;
    const box = image.getBoundingClientRect();
    const fx = clientX === undefined ? 0.5 : Math.min(1, Math.max(0, (clientX - box.left) / box.width));
    const fy = clientY === undefined ? 0.5 : Math.min(1, Math.max(0, (clientY - box.top) / box.height));
    zoomed = on;
    frame.classList.toggle("zoomed", on);
    zoomButton.setAttribute("aria-pressed", String(on));
    image.style.cursor = on ? "zoom-out" : "";
    if (on) {
      if (image.dataset.original && !image.dataset.preview) {
        image.dataset.preview = image.currentSrc || image.src;
        image.src = image.dataset.original;  // shown scaled from the preview's pixels until it arrives
      }
      image.style.width = `${fullWidth}px`;
      image.style.height = `${fullHeight}px`;
      const frameBox = frame.getBoundingClientRect();
      const x = clientX === undefined ? frameBox.width / 2 : clientX - frameBox.left;
      const y = clientY === undefined ? frameBox.height / 2 : clientY - frameBox.top;
      frame.scrollLeft = fx * fullWidth - x;
      frame.scrollTop = fy * fullHeight - y;
    } else {
      image.style.width = "";
      image.style.height = "";
    }
  };
  // Worth offering only when the original has more pixels than the window shows of it.
  const offerZoom = () => {
    if (zoomed) return;
    const larger = fullWidth > image.clientWidth * 1.1 || fullHeight > image.clientHeight * 1.1;
    zoomButton.hidden = !larger;
    frame.classList.toggle("no-zoom", !larger);
  };
  if (image.complete) offerZoom();
  image.addEventListener("load", offerZoom);
  window.addEventListener("resize", offerZoom);
  zoomButton.addEventListener("click", () => zoom(!zoomed));

  // Pointer: a click zooms in or out, a drag pans a zoomed photo, a sideways swipe steps to a neighbour.
  let start = null;
  frame.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    start = { x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop,
              type: event.pointerType, moved: false };
    if (zoomed && event.pointerType === "mouse") {
      frame.setPointerCapture(event.pointerId);
      frame.classList.add("panning");
    }
  });
  frame.addEventListener("pointermove", (event) => {
    if (!start) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    if (Math.abs(dx) > 6 || Math.abs(dy) > 6) start.moved = true;
    if (zoomed && start.type === "mouse") {
      frame.scrollLeft = start.left - dx;
      frame.scrollTop = start.top - dy;
    }
  });
  const release = (event) => {
    if (!start) return;
    const begun = start;
    start = null;
    frame.classList.remove("panning");
    if (event.type === "pointercancel") return;
    const dx = event.clientX - begun.x;
    const dy = event.clientY - begun.y;
    if (!zoomed && begun.type !== "mouse" && Math.abs(dx) > 50 && Math.abs(dx) > 1.5 * Math.abs(dy)) {
      go(dx < 0 ? "next" : "prev");
    } else if (!begun.moved && event.target === image && !frame.classList.contains("no-zoom")) {
      zoom(!zoomed, event.clientX, event.clientY);
    }
  };
  frame.addEventListener("pointerup", release);
  frame.addEventListener("pointercancel", release);
  image.addEventListener("dragstart", (event) => event.preventDefault());

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target.closest("input, textarea, select, [contenteditable]")) return;
    if (event.key === "Escape") {
      if (zoomed) zoom(false);
      else window.location.href = viewer.dataset.backUrl;
    } else if ((event.key === "z" || event.key === "Z") && !zoomButton.hidden) {
      zoom(!zoomed);
    } else if (event.key === "i" || event.key === "I") {
      info.open = !info.open;
    } else {
      return;
    }
    event.preventDefault();
  });
}

// Copy buttons: the text of the element their data-copy names (a generated image's prompt). The
// Clipboard API needs a secure context; over plain HTTP on a home network the old copy command does it.
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = document.createElement("textarea");
  area.value = text;
  area.readOnly = true;
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  if (!copied) throw new Error("the browser refused to copy");
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.querySelector(button.dataset.copy);
  if (!source) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await copyText(source.textContent);
      button.textContent = "Copied";
    } catch (error) {
      button.textContent = "Select and copy";  // one click selects the whole text (user-select: all)
    }
    window.setTimeout(() => { button.textContent = "Copy"; }, 2000);
  });
}

// Back on the grid from a photo (…#photo-12): that tile has the focus, so the arrow keys and Tab go on from it.
if (window.location.hash.startsWith("#photo-")) {
  const tile = document.getElementById(window.location.hash.slice(1));
  const link = tile && tile.querySelector("a");
  // After the load too: Chromium's scroll to the fragment, once the page is laid out, drops the focus.
  const focus = () => { if (document.activeElement === document.body) link.focus({ preventScroll: true }); };
  if (link) {
    focus();
    window.addEventListener("load", focus);
  }
}

// The grid's folded upload form opens when files are dragged over the page.
for (const panel of document.querySelectorAll("details.upload-panel")) {
  document.addEventListener("dragenter", (event) => {
    if (event.dataTransfer && Array.from(event.dataTransfer.types).includes("Files")) panel.open = true;
  });
}

// The selection menu's tag field offers the owner's tags as it is typed in: their names are asked for
// once, on the field's first focus (the page itself carries no list, so the grid's page stays as cheap).
function fillTagList(input) {
  const list = document.getElementById(input.getAttribute("list"));
  input.addEventListener("focus", async () => {
    if (list.dataset.filled) return;
    list.dataset.filled = "true";
    try {
      const response = await fetch(input.dataset.tagsUrl, { headers: { Accept: "application/json" } });
      const data = await response.json();
      list.replaceChildren(...data.tags.map((tag) => new Option("", tag.name)));
    } catch (error) {
      delete list.dataset.filled;  // asked again on the next focus; the field works without the list
    }
  });
}

// The search page's filters: folded on a phone, open on a wide screen (a <details> open attribute in
// the HTML opens them anywhere when some filter is set).
for (const details of document.querySelectorAll("details[data-open-wide]")) {
  if (window.matchMedia("(min-width: 900px)").matches) details.open = true;
}

// --- look2: on a phone the header's sections scroll sideways; the current one (Map, Trash) is kept in view.
document.querySelector("nav.sections [aria-current]")?.scrollIntoView({block: "nearest", inline: "nearest"});

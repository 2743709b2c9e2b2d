// The slideshow: the page's photos in turn, every `interval` seconds, then the next page's slideshow.
// Space pauses and plays, ← → step, F goes full screen (the Fullscreen API), Esc leaves. The interval
// is remembered in this browser; the next photo's preview is loaded while this one shows.
"use strict";

for (const show of document.querySelectorAll("[data-slideshow]")) {
  const slides = Array.from(show.querySelectorAll(".slides li"));
  const image = show.querySelector("[data-slide-image]");
  const caption = show.querySelector("[data-caption] a");
  const position = show.querySelector("[data-position]");
  const playButton = show.querySelector("[data-play]");
  const select = show.querySelector("[data-interval-select]");
  const KEY = "gallery.slideshow.interval";
  let at = Number(show.dataset.at), playing = true, timer = null;
  if (!slides.length || !image) continue;

  const stored = localStorage.getItem(KEY);
  if (stored && !new URLSearchParams(location.search).has("interval") &&
      Array.from(select.options).some((option) => option.value === stored)) select.value = stored;
  const seconds = () => Number(select.value);

  function preload(index) {
    if (index < slides.length) new Image().src = slides[index].dataset.preview;
  }

  function render() {
    const slide = slides[at].dataset;
    image.src = slide.preview;
    image.alt = slide.alt;
    caption.href = slide.url;
    caption.textContent = slides[at].textContent;
    position.textContent = `${at + 1} / ${slides.length}`;
    preload(at + 1);
  }

  function schedule() {
    clearTimeout(timer);
    if (playing) timer = setTimeout(() => step(1), seconds() * 1000);
  }

  function step(by) {
    if (at + by >= slides.length) {  // the page's last photo: the next page (or the start again)
      const next = new URL(show.dataset.nextPage, location.href);
      next.searchParams.set("interval", String(seconds()));
      location.assign(next);
      return;
    }
    at = Math.max(0, at + by);
    render();
    schedule();
  }

  function setPlaying(value) {
    playing = value;
    playButton.setAttribute("aria-pressed", String(playing));
    playButton.title = playing ? "Pause (Space)" : "Play (Space)";
    playButton.querySelector("[data-play-icon]").textContent = playing ? "❚❚" : "▶";
    playButton.querySelector(".visually-hidden").textContent = playing ? "Pause" : "Play";
    show.classList.toggle("paused", !playing);
    schedule();
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (show.requestFullscreen) show.requestFullscreen().catch(() => {});
  }

  for (const button of show.querySelectorAll("button[hidden]")) button.hidden = false;
  show.querySelector("[data-prev]").addEventListener("click", () => step(-1));
  show.querySelector("[data-next]").addEventListener("click", () => step(1));
  playButton.addEventListener("click", () => setPlaying(!playing));
  show.querySelector("[data-fullscreen]").addEventListener("click", toggleFullscreen);
  select.addEventListener("change", () => {
    localStorage.setItem(KEY, select.value);
    schedule();
  });
  image.addEventListener("click", () => setPlaying(!playing));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.target === select) return;
    const actions = {
      " ": () => setPlaying(!playing), ArrowRight: () => step(1), ArrowLeft: () => step(-1),
      f: toggleFullscreen, F: toggleFullscreen, Escape: () => location.assign(show.dataset.leave),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  // The bar fades while the photos play and the pointer rests.
  let idle = null;
  show.addEventListener("pointermove", () => {
    show.classList.add("active");
    clearTimeout(idle);
    idle = setTimeout(() => show.classList.remove("active"), 2500);
  });

  preload(at + 1);
  schedule();
}

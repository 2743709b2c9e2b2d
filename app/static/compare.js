// The compare page's A/B slider (templates/compare/show.html): shown only when this script runs, since
// without it the range input could not move anything. The top image (A) is clipped to the left of the
// split; the range input, which a keyboard moves with the arrows, Page Up/Down, Home and End, sets it.
for (const ab of document.querySelectorAll("[data-ab]")) {
  const stage = ab.querySelector("[data-ab-stage]");
  const range = ab.querySelector("[data-ab-range]");
  const split = () => {
    const value = Number(range.value);
    stage.style.setProperty("--split", `${value}%`);
    range.setAttribute("aria-valuetext", value === 0 ? "all B" : value === 100 ? "all A" : `${value} % A`);
  };
  // A's shape, no taller than 75 % of the window (the page's CSP allows no style attribute to say it).
  const [width, height] = stage.dataset.aspect.split("/").map(Number);
  stage.style.aspectRatio = `${width} / ${height}`;
  stage.style.maxWidth = `min(100%, calc(75vh * ${width / height}))`;
  range.addEventListener("input", split);
  // A press or drag on the picture moves the split there, as the range input would.
  const follow = (event) => {
    const box = stage.getBoundingClientRect();
    range.value = Math.round(Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1) * 100);
    split();
  };
  stage.addEventListener("pointerdown", (event) => {
    stage.setPointerCapture(event.pointerId);
    follow(event);
    stage.addEventListener("pointermove", follow);
  });
  const stop = () => stage.removeEventListener("pointermove", follow);
  stage.addEventListener("pointerup", stop);
  stage.addEventListener("pointercancel", stop);
  window.addEventListener("pageshow", split);  // a value the browser kept on coming back
  ab.hidden = false;
  split();
}

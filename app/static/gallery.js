// Progressive enhancement only: every page works without this file.
"use strict";

// Arrow keys follow the page's <link rel="prev"> / <link rel="next">.
document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target.closest("input, textarea, select")) return;
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

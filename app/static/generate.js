// The generate form shows the fields the chosen model's base takes (progressive enhancement: without this
// file every field shows, with a note, and the server checks each base's fields).
"use strict";

for (const form of document.querySelectorAll("form[data-generate]")) {
  const takes = JSON.parse(document.getElementById("model-takes").textContent);
  const model = form.elements.model;
  const note = form.querySelector("[data-base-note]");
  const scheduler = form.elements.scheduler;
  const numbers = ["width", "height", "steps", "cfg_scale", "guidance"];
  let shown = null;

  const describe = (t) => {
    const [least, most] = t.steps;
    const size = `${t.defaults.width} × ${t.defaults.height}`;
    const kind = t.fields.includes("cfg_scale") ? "a negative prompt and a CFG scale"
      : t.fields.includes("guidance") ? "guidance; no negative prompt or CFG scale" : "no negative prompt, CFG scale or guidance";
    return `${t.label}: ${size} by default, sizes in multiples of ${t.grid}, ${least} to ${most} steps; takes ${kind}.`;
  };

  const show = () => {
    const now = takes[model.value];
    if (!now) return;
    for (const wrapper of form.querySelectorAll("[data-field]")) {
      const used = now.fields.includes(wrapper.dataset.field);
      wrapper.hidden = !used;
      for (const control of wrapper.querySelectorAll("input, textarea, select")) control.disabled = !used;
    }
    // A value still at the last model's default (or blank) follows the new model; one typed in stays.
    for (const name of numbers) {
      const input = form.elements[name];
      const before = shown && shown.defaults[name];
      if (input.value === "" || (before !== undefined && Number(input.value) === Number(before))) {
        input.value = now.defaults[name] ?? "";
      }
    }
    for (const name of ["width", "height"]) form.elements[name].step = now.grid;
    form.elements.steps.min = now.steps[0];
    form.elements.steps.max = now.steps[1];
    for (const option of scheduler.options) {
      option.hidden = option.disabled = !now.schedulers.includes(option.value);
    }
    if (!now.schedulers.includes(scheduler.value) || (shown && scheduler.value === shown.defaults.scheduler)) {
      scheduler.value = now.defaults.scheduler;
    }
    note.textContent = describe(now);
    shown = now;
  };

  const strength = form.elements.strength;
  const strengthValue = form.querySelector("[data-strength-value]");
  if (strength && strengthValue) {
    strength.addEventListener("input", () => { strengthValue.textContent = Number(strength.value).toFixed(2); });
  }

  model.addEventListener("change", show);
  show();
}

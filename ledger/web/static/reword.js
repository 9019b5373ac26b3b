// Rewording a proposal, or asking one again: as you type, what you changed so far, word by
// word, against the wording the others read (the server's own difference, POST
// …/proposals/{id}/draft-changes). A screen reader hears a short count, not the draft.
"use strict";

(function () {
  const section = document.querySelector("[data-changes-url]");
  const form = document.querySelector("form.propose");
  if (!section || !form) return;
  const list = document.getElementById("reword-changes");
  const none = document.getElementById("reword-none");
  const summary = document.getElementById("reword-summary");
  const labels = { title: "Title", terms: "The agreement", if_broken: "If it is crossed" };
  let timer = null;
  let asked = 0;

  function wording(runs) {
    const shown = document.createElement("dd");
    shown.className = "terms";
    for (const run of runs) {
      if (run.op === "same") {
        shown.append(document.createTextNode(run.text));
        continue;
      }
      const mark = document.createElement(run.op === "added" ? "ins" : "del");
      const said = document.createElement("span");
      said.className = "visually-hidden";
      said.textContent = run.op === "added" ? "added: " : "removed: ";
      mark.append(said, document.createTextNode(run.text));
      shown.append(mark);
    }
    return shown;
  }

  async function compare() {
    const ticket = ++asked;
    const body = {};
    for (const name of Object.keys(labels)) {
      body[name] = form.elements[name] ? form.elements[name].value : "";
    }
    const response = await fetch(section.dataset.changesUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok || ticket !== asked) return;
    const changes = await response.json();
    list.replaceChildren();
    let added = 0;
    let removed = 0;
    for (const [name, label] of Object.entries(labels)) {
      const runs = changes[name];
      if (!runs.some((run) => run.op !== "same")) continue;
      added += runs.filter((run) => run.op === "added").length;
      removed += runs.filter((run) => run.op === "removed").length;
      const term = document.createElement("dt");
      term.textContent = label;
      list.append(term, wording(runs));
    }
    none.hidden = added + removed > 0;
    summary.textContent = added + removed > 0
      ? `Changed so far: ${added} ${added === 1 ? "part" : "parts"} added, ${removed} taken out.`
      : "Nothing changed yet.";
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(compare, 300);
  }

  for (const name of Object.keys(labels)) {
    if (form.elements[name]) form.elements[name].addEventListener("input", schedule);
  }
  section.hidden = false;
  compare();
})();

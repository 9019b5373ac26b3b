// The clarity check while typing: words known to be read differently ("date", "serious")
// are highlighted in a preview of the draft, with a field to say what each one means.
// The check itself is the server's (POST /api/clarity-check), the same the ledger applies
// to every proposal.
"use strict";

(function () {
  const form = document.querySelector("form.propose");
  if (!form) return;
  const fields = Array.from(form.querySelectorAll("[data-clarity]"));
  const definitions = document.getElementById("definitions");
  const preview = document.getElementById("clarity-preview");
  const none = document.getElementById("clarity-none");
  const summary = document.getElementById("clarity-summary");
  let timer = null;
  let asked = 0;
  let added = 0;

  function definitionInputs() {
    return Array.from(definitions.querySelectorAll("input[name^='definitions.']"));
  }

  function wordOf(input) {
    return input.name.slice("definitions.".length);
  }

  function addDefinition(word) {
    const wrapper = document.createElement("div");
    wrapper.className = "definition";
    const id = `define-new-${++added}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = `What you mean by “${word}”`;
    const input = document.createElement("input");
    input.id = id;
    input.name = `definitions.${word}`;
    input.maxLength = 2000;
    input.addEventListener("input", schedule);
    wrapper.append(label, input);
    definitions.append(wrapper);
  }

  // Highlights every form of a fuzzy word the server found ("partners" for "partner"),
  // as a whole word: no letter just before or after it, as the server reads words.
  function showPreview(forms) {
    preview.replaceChildren();
    const text = fields.map((field) => field.value).filter(Boolean).join("\n\n");
    const written = forms.sort((a, b) => b.length - a.length);
    if (!written.length || !text) { preview.hidden = true; return; }
    const escaped = written.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const pattern = new RegExp(`(?<!\\p{L})(${escaped.join("|")})(?!\\p{L})`, "giu");
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      preview.append(document.createTextNode(text.slice(last, match.index)));
      const mark = document.createElement("mark");
      mark.textContent = match[0];
      preview.append(mark);
      last = match.index + match[0].length;
    }
    preview.append(document.createTextNode(text.slice(last)));
    preview.hidden = false;
  }

  async function check() {
    const ticket = ++asked;
    const defined = definitionInputs().filter((input) => input.value.trim()).map(wordOf);
    const body = {
      title: form.elements.title.value,
      terms: form.elements.terms.value,
      if_broken: form.elements.if_broken ? form.elements.if_broken.value : "",
      definitions: defined,
    };
    const response = await fetch("/api/clarity-check", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok || ticket !== asked) return;
    const checked = await response.json();
    const words = checked.fuzzy_words;
    const forms = checked.forms || {};
    const present = new Set(definitionInputs().map(wordOf));
    definitionInputs().forEach((input) => {
      if (!input.value.trim() && !words.includes(wordOf(input))) input.closest(".definition").remove();
    });
    words.filter((word) => !present.has(word)).forEach(addDefinition);
    none.hidden = definitionInputs().length > 0;
    showPreview(words.flatMap((word) => forms[word] || [word]));
    summarise(words);
    form.setAttribute("data-clarity-checked", String(ticket));
  }

  // The preview repeats the whole draft, so it is not read out as it changes; this short
  // sentence is, and only when it says something new.
  function summarise(words) {
    if (!summary) return;
    const said = !words.length ? "No words found that can mean different things."
      : `${words.length === 1 ? "1 word" : `${words.length} words`} can mean different things: ${words.join(", ")}.`;
    if (summary.textContent !== said) summary.textContent = said;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }

  fields.forEach((field) => field.addEventListener("input", schedule));
  definitionInputs().forEach((input) => input.addEventListener("input", schedule));
  if (fields.some((field) => field.value)) check();
})();

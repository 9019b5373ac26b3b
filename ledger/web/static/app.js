// The web client's small script. Every page works without it; with it:
// - forms marked data-enhance are sent in the background, so when something does not go
//   through, the person's words stay in the form with the reason beside each field;
// - the account keeps the browser's time zone, so pages show times as the reader's clock
//   does (sent once, while the account has none; the sign-in form sends it too);
// - a secret shown once gets a button that copies it;
// - pages with data-live on <body> follow the server's live stream and redraw the parts
//   marked data-live-region when another member acts (never a part being typed into);
// - the inbox's unread count in the header follows the stream of all my polycules, and an
//   inbox entry opened is marked read before its page opens.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// What the person is told when something does not go through: the server says it in plain
// words (ledger/web/plain_words.py), a sentence for the form and one beside each field.
function describeError(body) {
  const plain = body && body.plain;
  if (plain && plain.message) return plain.message;
  return "That did not go through. Nothing was changed; please try again.";
}

// The fields a problem names: ``name``, a list's ``name[]``, a date-and-time's ``name@local``.
function fieldsNamed(form, name) {
  const names = [name, `${name}[]`, `${name}@local`].map((each) => `[name="${CSS.escape(each)}"]`);
  return Array.from(form.querySelectorAll(names.join(", ")));
}

function clearProblems(form) {
  form.querySelectorAll(".field-error").forEach((said) => said.remove());
  form.querySelectorAll('[aria-invalid="true"]').forEach((field) => {
    field.removeAttribute("aria-invalid");
    const kept = (field.getAttribute("aria-describedby") || "").split(" ")
      .filter((id) => id && !id.endsWith("-problem"));
    if (kept.length) field.setAttribute("aria-describedby", kept.join(" "));
    else field.removeAttribute("aria-describedby");
  });
}

let problemCount = 0;

// Each field's sentence beside it; what names no field of this form is answered with the
// sentences that could not be placed, for the alert at the top.
function markInvalid(form, body) {
  clearProblems(form);
  const fields = (body && body.plain && body.plain.fields) || {};
  const unplaced = [];
  Object.entries(fields).forEach(([name, sentence]) => {
    const found = fieldsNamed(form, name);
    if (!found.length) {
      unplaced.push(sentence);
      return;
    }
    problemCount += 1;
    const said = document.createElement("p");
    said.className = "field-error";
    said.id = `field-${problemCount}-problem`;
    said.textContent = sentence;
    // Beside the field; for a group of choices, after the group.
    const group = found[0].closest("fieldset");
    const after = found.length > 1 && group ? group : found[found.length - 1];
    after.insertAdjacentElement("afterend", said);
    found.forEach((field) => {
      field.setAttribute("aria-invalid", "true");
      const described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      field.setAttribute("aria-describedby", [...described, said.id].join(" "));
    });
  });
  return unplaced;
}

async function submitInBackground(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) return;
  event.preventDefault();
  const button = form.querySelector('button[type="submit"], button:not([type])');
  const alertBox = form.querySelector(".form-error");
  // With the button pressed, where a form offers several ("It was kept", "It was missed"):
  // read before the button is disabled, as a disabled button's value is never sent.
  const sent = new URLSearchParams(new FormData(form, event.submitter || undefined));
  if (button) button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: sent,
      headers: { "Accept": "application/json" },
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (body.location) {
      form.removeAttribute("data-dirty");
      window.location.assign(body.location);
      return;
    }
    const unplaced = markInvalid(form, body);
    const firstInvalid = form.querySelector('[aria-invalid="true"]');
    if (alertBox) {
      alertBox.textContent = [...new Set([describeError(body), ...unplaced])].join(" ");
      alertBox.hidden = false;
      alertBox.setAttribute("tabindex", "-1");
      alertBox.focus();
    } else if (firstInvalid) {
      firstInvalid.focus();
    }
  } catch (error) {
    if (alertBox) {
      alertBox.textContent = "The ledger could not be reached. Nothing was changed; your words are still here.";
      alertBox.hidden = false;
    }
  } finally {
    if (button) button.disabled = false;
  }
}

document.addEventListener("submit", submitInBackground);
document.addEventListener("input", (event) => {
  const form = event.target.closest && event.target.closest("form");
  if (form) form.setAttribute("data-dirty", "");
});

// --- live updates ----------------------------------------------------------------------

function isBusy(region) {
  return region.contains(document.activeElement) && document.activeElement !== document.body
    || region.querySelector("form[data-dirty]") !== null
    || region.querySelector("details[open]") !== null;
}

let refreshing = null;
let again = false;

async function refresh() {
  if (refreshing) { again = true; return refreshing; }
  refreshing = (async () => {
    do {
      again = false;
      const response = await fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!response.ok) return;
      const html = await response.text();
      const fresh = new DOMParser().parseFromString(html, "text/html");
      let changed = false;
      document.querySelectorAll("[data-live-region]").forEach((region) => {
        const replacement = fresh.getElementById(region.id);
        if (!replacement || replacement.innerHTML === region.innerHTML || isBusy(region)) return;
        region.replaceWith(document.importNode(replacement, true));
        const placed = document.getElementById(region.id);
        if (placed) placed.classList.add("updated");
        changed = true;
      });
      if (changed) {
        const status = document.getElementById("live-status");
        if (status) status.textContent = "This page was just updated.";
        document.dispatchEvent(new CustomEvent("ledger:updated"));
      }
    } while (again);
  })().finally(() => { refreshing = null; });
  return refreshing;
}

function followLiveStream() {
  const url = document.body.dataset.live;
  if (!url || !window.EventSource) return;
  const source = new EventSource(url);
  let opened = false;
  // A stream that cannot start from the version the page was drawn at (the inbox's, over
  // every polycule) catches up once when it first opens. A reconnection needs nothing of
  // the kind: the browser sends back the last id the stream gave (Last-Event-ID), and the
  // stream goes on from there, telling what changed meanwhile as a change.
  const startsWhereThePageWasDrawn = url.includes("after=");
  source.addEventListener("open", () => {
    if (!opened && !startsWhereThePageWasDrawn) refresh();
    opened = true;
    document.body.setAttribute("data-live-connected", "");
  });
  source.addEventListener("change", () => refresh());
}

document.addEventListener("DOMContentLoaded", followLiveStream);

// --- the inbox: the header's unread count, and entries marked read when opened -----------

function showUnread(count) {
  const holder = document.getElementById("inbox-count");
  if (!holder) return;
  holder.textContent = "";
  if (count > 0) {
    const badge = document.createElement("span");
    badge.className = "count";
    badge.textContent = String(count);
    const words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = " not read";
    badge.appendChild(words);
    holder.append(badge);
  }
}

async function updateUnread() {
  const response = await fetch("/api/me/inbox/unread", { credentials: "same-origin", headers: { "Accept": "application/json" } });
  if (!response.ok) return;
  const body = await response.json().catch(() => ({}));
  if (typeof body.unread === "number") showUnread(body.unread);
}

function followInboxCount() {
  if (!document.getElementById("inbox-count") || !window.EventSource) return;
  // A page that follows the stream of all my polycules redraws the count with the page.
  if (document.body.dataset.live === "/api/me/live") return;
  const source = new EventSource("/api/me/live");
  source.addEventListener("change", () => updateUnread());
}

function markRead(key, keepalive) {
  return fetch("/api/me/inbox/read", {
    method: "POST",
    body: JSON.stringify({ entries: [key] }),
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
    credentials: "same-origin",
    keepalive,
  });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[data-inbox-entry]");
  if (!link) return;
  const key = link.dataset.inboxEntry;
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    markRead(key, true).catch(() => {});
    return;  // opened elsewhere: this page stays
  }
  event.preventDefault();
  // The page opens once the entry is marked read (or marking it failed: it opens anyway).
  markRead(key, false).catch(() => {}).finally(() => window.location.assign(link.href));
});

document.addEventListener("DOMContentLoaded", followInboxCount);

// --- the reader's time zone -----------------------------------------------------------

function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (error) {
    return "";
  }
}

function keepTimeZone() {
  const zone = browserTimeZone();
  // The sign-in form's hidden field: the account keeps the zone as it signs in.
  document.querySelectorAll('input[name="time_zone"][data-browser-zone]').forEach((field) => {
    field.value = zone;
  });
  // Signed in, and the account has no zone yet: keep this browser's.
  const kept = document.querySelector('meta[name="time-zone"]');
  if (!kept || kept.content || !zone || !csrfToken()) return;
  fetch("/api/account/time-zone", {
    method: "PUT",
    body: JSON.stringify({ time_zone: zone }),
    headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrfToken() },
    credentials: "same-origin",
  }).then((response) => {
    if (response.ok) kept.content = zone;
  }).catch(() => {});
}

document.addEventListener("DOMContentLoaded", keepTimeZone);

// --- copying a secret shown once -------------------------------------------------------

function offerCopy() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const field = document.getElementById(button.dataset.copy);
    const said = document.getElementById(`${button.dataset.copy}-copied`);
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        if (said) said.textContent = "Copied. Paste it where you mean to send it.";
      } catch (error) {
        if (said) said.textContent = "Selected: copy it with your device's own Copy.";
      }
    });
  });
}

document.addEventListener("DOMContentLoaded", offerCopy);

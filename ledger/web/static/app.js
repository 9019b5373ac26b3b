// The web client's small script. Every page works without it; with it:
// - forms marked data-enhance are sent in the background, so when something does not go
//   through, the person's words stay in the form with the reason beside them;
// - pages with data-live on <body> follow the server's live stream and redraw the parts
//   marked data-live-region when another member acts (never a part being typed into);
// - the inbox's unread count in the header follows the stream of all my polycules, and an
//   inbox entry opened is marked read before its page opens.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Refusals whose API wording is for programs; said here for people.
const IN_PLAIN_WORDS = {
  csrf_failed: "This form came from a page opened before you last signed in. Reload the page, and send it again if it is still what you want.",
  invalid_credentials: "That handle and password do not match an account.",
};

function describeError(body) {
  const error = body && body.error;
  if (!error) return "That did not go through. Nothing was changed; please try again.";
  if (IN_PLAIN_WORDS[error.code]) return IN_PLAIN_WORDS[error.code];
  const problems = (error.details && error.details.errors) || [];
  const parts = problems.map((problem) => `${problem.loc.join(".")}: ${problem.msg}`);
  const message = error.message.charAt(0).toUpperCase() + error.message.slice(1);
  return parts.length ? `${message}. ${parts.join("; ")}` : `${message}.`;
}

function markInvalid(form, body) {
  form.querySelectorAll('[aria-invalid="true"]').forEach((field) => field.removeAttribute("aria-invalid"));
  const problems = (body && body.error && body.error.details && body.error.details.errors) || [];
  problems.forEach((problem) => {
    const name = problem.loc.join(".");
    const field = form.querySelector(`[name="${CSS.escape(name)}"], [name="${CSS.escape(name)}[]"]`);
    if (field) field.setAttribute("aria-invalid", "true");
  });
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
    if (alertBox) {
      alertBox.textContent = describeError(body);
      alertBox.hidden = false;
      alertBox.focus && alertBox.setAttribute("tabindex", "-1");
      alertBox.focus();
    }
    markInvalid(form, body);
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

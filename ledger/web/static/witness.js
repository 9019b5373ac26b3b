// The record page's witness: this browser remembers the last checkpoint of the polycule's
// history it verified, and on every visit checks that the service still holds to it.
//
// - The service's signature on the latest checkpoint is checked (Ed25519, WebCrypto) with
//   the keys published at /.well-known/ledger-checkpoint-keys.
// - The checkpoint kept from the last visit must be the start of the latest one: no
//   shorter, and proven so by an RFC 9162 consistency proof checked here.
// - If not, a plain warning says the history seen before no longer holds, with the kept
//   signed checkpoint and the failed proof ready to download, and the kept one is never
//   replaced. Otherwise the latest one is kept for the next visit.
// - Every other page of the polycule runs the same check in the background and shows
//   only a warning, pointing to the record page, when it fails.
// - Once the member asks for it, the browser co-signs each checkpoint it verified with a
//   key made here, whose private half cannot leave it (non-extractable, in IndexedDB).
// docs/verification.md says what each step checks.
"use strict";

(function witness() {
  const region = document.querySelector("[data-witness]");
  if (!region) return;
  const background = "witnessBackground" in region.dataset;
  const polycule = region.dataset.polycule;
  const api = `/api/polycules/${polycule}`;
  const storageKey = `ledger-checkpoint:${polycule}`;
  const status = region.querySelector("[data-witness-status]");
  const warning = region.querySelector("[data-witness-warning]");
  const offer = region.querySelector("[data-witness-offer]");
  const cosignButton = region.querySelector("[data-witness-cosign]");
  const encoder = new TextEncoder();
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  const fromHex = (hex) => Uint8Array.from(hex.match(/../g) || [], (pair) => parseInt(pair, 16));
  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const toBase64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
  const toHex = (bytes) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");

  async function sha256(...parts) {
    const length = parts.reduce((sum, part) => sum + part.length, 0);
    const joined = new Uint8Array(length);
    let offset = 0;
    parts.forEach((part) => { joined.set(part, offset); offset += part.length; });
    return new Uint8Array(await crypto.subtle.digest("SHA-256", joined));
  }
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
  const same = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);

  // RFC 9162, 2.1.4.2: the tree of `first` leaves is a prefix of the tree of `second`.
  // Sizes stay below 2^53 (JavaScript's exact integers): far beyond any polycule.
  async function consistent(first, second, firstRoot, secondRoot, path) {
    if (first > second) return false;
    if (first === second) return path.length === 0 && same(firstRoot, secondRoot);
    if (first === 0) return path.length === 0;
    if (path.length === 0) return false;
    // Arithmetic, not bitwise operators (which would cut sizes to 32 bits).
    const powerOfTwo = 2 ** Math.round(Math.log2(first)) === first;
    const nodes = powerOfTwo ? [firstRoot, ...path] : [...path];
    let fn = first - 1;
    let sn = second - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = nodes[0];
    let sr = nodes[0];
    for (const node of nodes.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(node, fr);
        sr = await nodeHash(node, sr);
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        sr = await nodeHash(sr, node);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(fr, firstRoot) && same(sr, secondRoot);
  }

  function signedText(checkpoint) {
    return `polycule-ledger-checkpoint/v1\n${checkpoint.polycule_id}\n${checkpoint.tree_size}\n`
      + `${checkpoint.root_hash}\n${checkpoint.issued_at_us}\n`;
  }

  async function publishedKeys() {
    const answer = await fetch("/.well-known/ledger-checkpoint-keys", { credentials: "same-origin" });
    if (!answer.ok) throw new Error("the service's keys could not be fetched");
    const keys = new Map();
    for (const key of (await answer.json()).keys) {
      keys.set(key.key_id, await crypto.subtle.importKey(
        "raw", fromBase64(key.public_key), { name: "Ed25519" }, false, ["verify"]));
    }
    return keys;
  }

  async function signedByTheService(checkpoint, keys) {
    const text = signedText(checkpoint);
    if (checkpoint.polycule_id !== polycule || checkpoint.signed_text !== text) return false;
    const key = keys.get(checkpoint.key_id);
    if (!key) return false;
    return crypto.subtle.verify(
      { name: "Ed25519" }, key, fromBase64(checkpoint.signature), encoder.encode(text));
  }

  async function getJson(url) {
    const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return { ok: answer.ok, status: answer.status, body: await answer.json() };
  }

  function downloadLink(name, label, value) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([JSON.stringify(value, null, 2)], { type: "application/json" }));
    link.download = name;
    link.textContent = label;
    return link;
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function warn(reason, kept, evidence) {
    region.hidden = false;
    warning.hidden = false;
    warning.querySelector("[data-witness-reason]").textContent = reason;
    region.dataset.witnessState = "broken";
    const list = warning.querySelector("[data-witness-downloads]");
    if (!list) return;
    list.replaceChildren();
    [
      downloadLink(`kept-checkpoint-${polycule}.json`, "The signed checkpoint your browser kept", kept),
      downloadLink(`failed-proof-${polycule}.json`, "What the service answered now (the failed proof)", evidence),
    ].forEach((link) => { const item = document.createElement("li"); item.append(link); list.append(item); });
    say("Your browser checked the record against what it saw before, and it does not hold.");
  }

  function kept() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "null"); } catch { return null; }
  }

  // -- this browser's own key, for co-signing ---------------------------------------------
  function openKeys() {
    return new Promise((resolve, reject) => {
      const opening = indexedDB.open("ledger-witness", 1);
      opening.onupgradeneeded = () => opening.result.createObjectStore("device");
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    });
  }
  async function stored(name, value) {
    const db = await openKeys();
    return new Promise((resolve, reject) => {
      const store = db.transaction("device", value === undefined ? "readonly" : "readwrite").objectStore("device");
      const request = value === undefined ? store.get(name) : store.put(value, name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  const deviceSlot = () => `device:${region.dataset.account}`;

  async function makeDevice() {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const publicKey = await crypto.subtle.exportKey("raw", pair.publicKey);
    const answer = await fetch("/api/account/device-keys", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ name: `A browser (${navigator.platform || "this device"})`, public_key: toBase64(publicKey) }),
    });
    if (!answer.ok) throw new Error("the browser's key could not be registered");
    const device = { id: (await answer.json()).device_key_id, privateKey: pair.privateKey, publicKey: toBase64(publicKey) };
    await stored(deviceSlot(), device);
    return device;
  }

  async function cosign(device, checkpoint) {
    if (checkpoint.cosignatures.some((c) => c.public_key === device.publicKey)) return true;
    const message = encoder.encode(`polycule-ledger-cosignature/v1\n${checkpoint.signed_text}`);
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, device.privateKey, message);
    const answer = await fetch(`${api}/checkpoint/cosignatures`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({
        tree_size: checkpoint.tree_size, root_hash: checkpoint.root_hash,
        device_key_id: device.id, signature: toBase64(signature),
      }),
    });
    return answer.ok;
  }

  async function check() {
    const keys = await publishedKeys();
    const latest = await getJson(`${api}/checkpoint`);
    if (!latest.ok) throw new Error("the checkpoint could not be fetched");
    const checkpoint = latest.body;
    const before = kept();
    if (!(await signedByTheService(checkpoint, keys))) {
      warn("The service's latest checkpoint is not signed by any of its published keys.", before, latest.body);
      return null;
    }
    if (before) {
      if (!(await signedByTheService(before, keys))) {
        warn("The checkpoint your browser kept no longer verifies with the service's published keys.", before, latest.body);
        return null;
      }
      if (checkpoint.tree_size < before.tree_size) {
        warn(`The record now holds ${checkpoint.tree_size} entries, but your browser saw ${before.tree_size}: entries were taken out.`, before, latest.body);
        return null;
      }
      const proof = await getJson(`${api}/proofs/consistency?from=${before.tree_size}&to=${checkpoint.tree_size}`);
      const holds = proof.ok
        && proof.body.checkpoint.root_hash === checkpoint.root_hash
        && await consistent(before.tree_size, checkpoint.tree_size, fromHex(before.root_hash),
          fromHex(checkpoint.root_hash), proof.body.proof.map(fromHex));
      if (!holds) {
        warn(`The first ${before.tree_size} entries your browser saw are no longer the start of the record: what was written then has been changed.`,
          before, { checkpoint, consistency: proof.body });
        return null;
      }
    }
    localStorage.setItem(storageKey, JSON.stringify(checkpoint));
    region.dataset.witnessState = "holds";
    say(before
      ? `Your browser checked it: the ${before.tree_size} entries it saw before are still the start of the record, now ${checkpoint.tree_size} entries, signed by the service.`
      : `Your browser checked the service's signature on the record's ${checkpoint.tree_size} entries and will hold the service to them on your next visit.`);
    return checkpoint;
  }

  async function witnessWith(checkpoint) {
    let device = await stored(deviceSlot()).catch(() => undefined);
    if (device) {
      if (await cosign(device, checkpoint)) region.dataset.witnessCosigned = "yes";
      return;
    }
    if (background) return;  // the offer is made on the record page
    offer.hidden = false;
    cosignButton.addEventListener("click", async () => {
      cosignButton.disabled = true;
      try {
        device = await makeDevice();
        if (await cosign(device, checkpoint)) {
          region.dataset.witnessCosigned = "yes";
          offer.hidden = true;
          say(`${status.textContent} This browser co-signed it, and will co-sign what it checks from now on.`);
        }
      } catch {
        cosignButton.disabled = false;
        say(`${status.textContent} This browser could not co-sign it; please try again.`);
      }
    }, { once: true });
  }

  check().then((checkpoint) => {
    if (checkpoint) return witnessWith(checkpoint);
    return null;
  }).catch(() => {
    say("Your browser could not check the record just now; it will try again on your next visit.");
    region.dataset.witnessState = "unchecked";
  });
}());

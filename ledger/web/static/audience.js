// The audience preview while choosing: each time the picker changes, the server says
// exactly who would be able to read the disclosure (POST .../disclosures/preview, the
// same answer the page gives without script), and the names are shown in a polite live
// region. The page's own "Show who will see it" button is then not needed, so it hides;
// if it is still pressed (Enter in the picker), it asks again here instead of leaving.
"use strict";

(function () {
  const picker = document.getElementById("audience-picker");
  const region = document.getElementById("who-will-see");
  if (!picker || !region) return;
  const form = picker.form;
  const showButton = form.querySelector("button[data-preview-button]");
  const me = picker.dataset.me;
  let asked = 0;

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function question() {
    const audience = form.querySelector('input[name="audience"]:checked');
    const chosen = form.querySelectorAll('input[name="recipients[]"]:checked');
    return {
      audience: audience ? audience.value : "chosen",
      recipients: Array.from(chosen, (box) => box.value),
    };
  }

  function say(...paragraphs) {
    region.replaceChildren(...paragraphs.map((words) => {
      const paragraph = document.createElement("p");
      paragraph.textContent = words;
      return paragraph;
    }));
  }

  function showPeople(people) {
    say("Exactly these people will be able to read it:");
    const list = document.createElement("ul");
    people.forEach((person) => {
      const item = document.createElement("li");
      item.textContent = person.member_id === me ? `${person.display_name} (you)` : person.display_name;
      list.append(item);
    });
    region.append(list);
    if (people.length === 1) {
      const hint = document.createElement("p");
      hint.textContent = "Choose at least one person to tell.";
      region.append(hint);
    }
  }

  async function ask() {
    const ticket = ++asked;
    try {
      const response = await fetch(picker.dataset.preview, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": csrfToken(),
        },
        body: JSON.stringify(question()),
      });
      const body = await response.json().catch(() => ({}));
      if (ticket !== asked) return;  // a later change has asked since
      if (response.ok) {
        showPeople(body.who_will_see);
      } else {
        const message = (body.error && body.error.message) || "who will see it could not be checked";
        say(`${message.charAt(0).toUpperCase()}${message.slice(1)}. Nothing has been sent.`);
      }
    } catch (error) {
      if (ticket === asked) say("Who will see it could not be checked just now. Nothing has been sent.");
    }
  }

  picker.addEventListener("change", ask);
  // Before the page's script sends the form: the show button only asks, it never sends.
  form.addEventListener("submit", (event) => {
    if (event.submitter !== showButton) return;
    event.preventDefault();
    event.stopPropagation();
    ask();
  });
  // Its paragraph, since a button's own display rule would outweigh its hidden attribute.
  if (showButton) showButton.parentElement.hidden = true;
  ask();
})();

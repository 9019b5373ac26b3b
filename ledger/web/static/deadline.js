// The deadline on the propose form: the browser's own date and time picker shows the
// reader's local time; the moment it names is sent, with its offset, as the API takes it
// (respond_by). Without this script the field stays hidden and no deadline is set.
"use strict";

function asLocalInput(moment) {
  const pad = (number) => String(number).padStart(2, "0");
  return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())}` +
    `T${pad(moment.getHours())}:${pad(moment.getMinutes())}`;
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("deadline");
  const picked = document.getElementById("respond_by_local");
  const sent = document.getElementById("respond_by");
  if (!box || !picked || !sent) return;
  if (picked.dataset.current) picked.value = asLocalInput(new Date(picked.dataset.current));
  picked.min = asLocalInput(new Date());
  const carry = () => {
    const moment = picked.value ? new Date(picked.value) : null;
    sent.value = moment && !Number.isNaN(moment.getTime()) ? moment.toISOString() : "";
  };
  picked.addEventListener("input", carry);
  picked.addEventListener("change", carry);
  carry();
  box.hidden = false;
});

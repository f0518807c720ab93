// Switchboard console: live updates over server-sent events. Every page works without this
// file; it only keeps a running call's timeline and the debugger's list current.
//
// An element with `data-live` names an event stream. Each `item` event carries an HTML fragment
// the server rendered (and escaped); it is added at the end of the element, or at its start
// when `data-live-at="afterbegin"`. A `status` event updates `#call-status`; `end` closes the
// stream.
"use strict";

document.querySelectorAll("[data-live]").forEach((list) => {
  const source = new EventSource(list.dataset.live);
  const where = list.dataset.liveAt || "beforeend";
  source.addEventListener("item", (event) => {
    list.insertAdjacentHTML(where, event.data);
    const empty = document.getElementById("no-alerts");
    if (empty) empty.remove();
  });
  source.addEventListener("status", (event) => {
    const status = document.getElementById("call-status");
    if (status) status.textContent = event.data;
  });
  source.addEventListener("end", () => {
    source.close();
    const note = document.getElementById("live-note");
    if (note) note.textContent = "The call is over.";
  });
});

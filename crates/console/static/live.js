// Lead Inbox console: new leads appear in the inbox as they arrive (Server-Sent Events
// from /inbox/events), announced in the page's aria-live region. Built with DOM calls
// and textContent only: a lead's fields are never parsed as HTML.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var source = null;
  function start() {
    var table = document.getElementById("leads");
    if (!table || source) { return; }
    source = new EventSource(table.getAttribute("data-events"));
    source.addEventListener("lead", function (event) {
      var lead;
      try { lead = JSON.parse(event.data); } catch (e) { return; }
      var body = document.getElementById("leads-body");
      var live = document.getElementById("live");
      if (!body) { return; }
      var row = document.createElement("tr");
      row.className = "fresh";
      var first = document.createElement("th");
      first.scope = "row";
      var link = document.createElement("a");
      link.href = lead.url;
      link.textContent = lead.reference;
      first.appendChild(link);
      row.appendChild(first);
      [lead.received, lead.name, lead.status, lead.anomalies].forEach(function (text) {
        var cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      });
      body.insertBefore(row, body.firstChild);
      var empty = document.getElementById("no-leads");
      if (empty) { empty.remove(); }
      if (live) { live.textContent = lead.announcement; }
    });
  }
  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", function () {
    if (source && !document.getElementById("leads")) { source.close(); source = null; }
    start();
  });
})();

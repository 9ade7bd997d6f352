// Live alert feed: server-sent events from /feed/stream add a row per new alert version.
// The server sends each row in the reader's language (labels, names, local time): no words here.
(function () {
  "use strict";
  var table = document.querySelector("table.feed");
  if (!table || !window.EventSource) { return; }
  var body = table.querySelector("tbody");
  var dot = document.querySelector(".live-dot");
  var source = new EventSource("/feed/stream?after=" + encodeURIComponent(table.dataset.after || "0"));
  function cell(tr, text, href) {
    var td = document.createElement("td");
    if (href) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); }
    else { td.textContent = text; }
    tr.appendChild(td);
    return td;
  }
  source.addEventListener("open", function () { if (dot) { dot.classList.remove("off"); } });
  source.addEventListener("error", function () { if (dot) { dot.classList.add("off"); } });
  source.addEventListener("alert", function (ev) {
    var a = JSON.parse(ev.data);
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.className = "fresh sev-" + a.severity;
    tr.dataset.case = a.case_id;
    cell(tr, a.recorded_at);
    cell(tr, a.case_id, "/cases/" + encodeURIComponent(a.case_id));
    cell(tr, "v" + a.version);
    var sev = cell(tr, "");
    var badge = document.createElement("span");
    badge.className = "badge sev-" + a.severity;
    badge.textContent = a.severity_label;
    sev.appendChild(badge);
    cell(tr, a.seller_name || "");
    cell(tr, a.rules_text);
    cell(tr, a.recipients_text);
    body.insertBefore(tr, body.firstChild);
    while (body.children.length > 100) { body.removeChild(body.lastChild); }
  });
})();

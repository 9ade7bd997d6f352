// Live pages: one server-sent-events stream (/live/stream) keeps the feed, the tiles and the charts current.
// Rows arrive in the order the dashboard received them; each is placed by the time the bus recorded it,
// so the feed stays newest first. Every label comes rendered by the server in the reader's language.
(function () {
  "use strict";
  if (!window.EventSource) { return; }
  var table = document.querySelector("table.feed");
  var wantsTiles = document.querySelector("[data-live], [data-live-html]") !== null;
  if (!table && !wantsTiles) { return; }
  var body = table ? table.querySelector("tbody") : null;
  var limit = table ? parseInt(table.dataset.limit || "50", 10) : 0;
  var params = ["tiles=" + (wantsTiles ? "1" : "0")];
  if (table && table.dataset.after) { params.push("after=" + encodeURIComponent(table.dataset.after)); }
  var dots = document.querySelectorAll(".live-dot");
  function live(on) { dots.forEach(function (d) { d.classList.toggle("off", !on); }); }

  function cell(tr, text, href) {
    var td = document.createElement("td");
    if (href) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); }
    else { td.textContent = text; }
    tr.appendChild(td);
    return td;
  }
  function newer(a, b) {  // is row a newer than row b? recorded time, then arrival
    if (a.dataset.at !== b.dataset.at) { return a.dataset.at > b.dataset.at; }
    return parseInt(a.dataset.seq, 10) > parseInt(b.dataset.seq, 10);
  }
  function place(tr) {
    var rows = body.querySelectorAll("tr[data-at]");
    for (var i = 0; i < rows.length; i++) {
      if (newer(tr, rows[i])) { body.insertBefore(tr, rows[i]); return; }
    }
    body.appendChild(tr);
  }
  function addAlert(a) {
    if (body.querySelector('tr[data-seq="' + a.seq + '"]')) { return; }
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.className = "fresh sev-" + a.severity;
    tr.dataset.case = a.case_id;
    tr.dataset.at = a.at;
    tr.dataset.seq = String(a.seq);
    cell(tr, a.recorded_at);
    cell(tr, a.case_id, "/cases/" + encodeURIComponent(a.case_id));
    cell(tr, "v" + a.version);
    var badge = document.createElement("span");
    badge.className = "badge sev-" + a.severity;
    badge.textContent = a.severity_label;
    cell(tr, "").appendChild(badge);
    cell(tr, a.seller_name || "");
    cell(tr, a.rules_text);
    cell(tr, a.recipients_text);
    place(tr);
    while (body.querySelectorAll("tr[data-at]").length > limit) { body.removeChild(body.lastElementChild); }
  }
  function setTiles(o) {
    Object.keys(o.values || {}).forEach(function (name) {
      document.querySelectorAll('[data-live="' + name + '"]').forEach(function (el) {
        if (el.textContent !== o.values[name]) { el.textContent = o.values[name]; el.classList.add("changed"); }
      });
    });
    Object.keys(o.warn || {}).forEach(function (name) {
      document.querySelectorAll('[data-live-warn="' + name + '"]').forEach(function (el) {
        el.classList.toggle("warn", !!o.warn[name]);
      });
    });
    Object.keys(o.html || {}).forEach(function (name) {
      document.querySelectorAll('[data-live-html="' + name + '"]').forEach(function (el) {
        if (el.innerHTML !== o.html[name]) { el.innerHTML = o.html[name]; }  // server-rendered, escaped
      });
    });
    document.body.dataset.liveTiles = String((parseInt(document.body.dataset.liveTiles || "0", 10)) + 1);
  }

  var source = new EventSource("/live/stream?" + params.join("&"));
  source.addEventListener("open", function () { live(true); });
  source.addEventListener("error", function () { live(false); });
  source.addEventListener("alert", function (ev) { if (body) { addAlert(JSON.parse(ev.data)); } });
  source.addEventListener("tiles", function (ev) { setTiles(JSON.parse(ev.data)); });
})();

// The Live page: every 5 s, /api/live again, and the tables (heatmap, intraday alerts, streams)
// and times redrawn from it.
// DOM methods and textContent only: a value from the store is never parsed as markup.
"use strict";
(function () {
  var EVERY_MS = 5000;
  var SVG = "http://www.w3.org/2000/svg";
  var table = document.getElementById("live-heat");
  if (!table) { return; }

  function stamp(iso) { return iso.slice(0, 19).replace("T", " ") + " UTC"; }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function setText(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text; }
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    return node;
  }

  function spark(row, minutes, width, height) {
    var w = width / minutes;
    var box = svg("svg", { "class": "spark", viewBox: "0 0 " + width + " " + height, width: width,
      height: height, role: "img", "aria-label": row.spark_title });
    var title = svg("title", {});
    title.textContent = row.spark_title;
    box.appendChild(title);
    box.appendChild(svg("rect", { "class": "base", x: 0, y: height - 1, width: width, height: 1 }));
    row.spark.forEach(function (h, i) {
      if (h) {
        box.appendChild(svg("rect", { x: (i * w).toFixed(2), y: height - h, width: (w * 0.8).toFixed(2), height: h }));
      }
    });
    return box;
  }

  function heatmap(data) {
    var head = el("tr");
    head.appendChild(el("th", "", "Asset"));
    data.exchanges.forEach(function (x) { head.appendChild(el("th", "num", x)); });
    head.appendChild(el("th", "num", "Total"));
    head.appendChild(el("th", "", "Minute by minute"));
    table.tHead.replaceChildren(head);
    var rows = data.rows.map(function (r) {
      var tr = el("tr");
      var name = el("th", "", r.asset);
      name.scope = "row";
      tr.appendChild(name);
      r.cells.forEach(function (c) {
        var td = el("td", "num heat-" + Number(c.heat), c.text);
        td.title = c.title;
        tr.appendChild(td);
      });
      tr.appendChild(el("td", "num total", r.total_text));
      tr.appendChild(el("td")).appendChild(spark(r, data.window.minutes, data.spark_width, data.spark_height));
      return tr;
    });
    if (!rows.length) {
      var empty = el("td", "empty", "No stream data in the window.");
      empty.colSpan = data.exchanges.length + 3;
      rows = [el("tr")];
      rows[0].appendChild(empty);
    }
    table.tBodies[0].replaceChildren.apply(table.tBodies[0], rows);
    var foot = [];
    if (data.rows.length) {
      var tr = el("tr");
      var label = el("th", "", "All assets");
      label.scope = "row";
      tr.appendChild(label);
      data.totals.cells.forEach(function (c) { tr.appendChild(el("td", "num", c.text)); });
      tr.appendChild(el("td", "num total", data.totals.total_text));
      tr.appendChild(el("td"));
      foot.push(tr);
    }
    table.tFoot.replaceChildren.apply(table.tFoot, foot);
  }

  function streams(data) {
    var body = document.getElementById("live-streams");
    if (!body) { return; }
    body.replaceChildren.apply(body, data.streams.map(function (s) {
      var tr = el("tr");
      var name = tr.appendChild(el("td", "", s.stream));
      if (s.feed) { name.appendChild(el("div", "muted", s.feed)); }
      tr.appendChild(el("td", "", s.exchange));
      var state = tr.appendChild(el("td"));
      state.appendChild(el("span", "pill " + s.tone, s.state));
      if (s.detail) { state.appendChild(el("div", "muted", s.detail)); }
      tr.appendChild(el("td", "nowrap", s.since ? stamp(s.since) : "\u2013"));
      tr.appendChild(el("td", "", s.collector_text));
      return tr;
    }));
  }

  function link(href, text) {
    var a = el("a", "", text);
    a.href = href;  // a path of this console, built by the server ("/alerts/12")
    return a;
  }

  function openEpisodes(data) {
    var node = document.getElementById("live-open");
    if (!node) { return; }
    var parts = [];
    if (!data.open_episodes.length) {
      parts.push(el("span", "muted", "No episode is open."));
    }
    data.open_episodes.forEach(function (e, i) {
      if (i === 0) { parts.push(document.createTextNode("Open now: ")); }
      var a = link(e.url, "");
      a.appendChild(el("span", "pill " + e.status, e.status));
      a.appendChild(document.createTextNode(" " + e.scope + " " + e.limit_title));
      parts.push(a);
      parts.push(document.createTextNode(" "));
      parts.push(el("span", "muted", "since " + stamp(e.since)));
      if (i < data.open_episodes.length - 1) { parts.push(document.createTextNode("; ")); }
    });
    node.replaceChildren.apply(node, parts);
  }

  function alerts(data) {
    var body = document.querySelector("#live-alerts tbody");
    if (!body) { return; }
    var rows = data.intraday_alerts.map(function (a) {
      var tr = el("tr");
      tr.appendChild(el("td", "nowrap", a.at.slice(0, 19).replace("T", " ")));  // UTC: the header says
      tr.appendChild(el("td", "nowrap", a.limit_title));
      tr.appendChild(el("td", "", a.scope));
      tr.appendChild(el("td", "", a.kind));
      tr.appendChild(el("td")).appendChild(el("span", "pill " + a.status, a.status));
      tr.appendChild(el("td", "num nowrap", a.versus_text));
      tr.appendChild(el("td", "", a.episode_open ? "open" : "resolved"));
      tr.appendChild(el("td", "nowrap")).appendChild(link(a.url, "Alert page"));
      return tr;
    });
    if (!rows.length) {
      var empty = el("td", "muted", "No intraday alert yet.");
      empty.colSpan = 8;
      rows = [el("tr")];
      rows[0].appendChild(empty);
    }
    body.replaceChildren.apply(body, rows);
  }

  function status(text) {
    var node = document.getElementById("live-status");
    if (!node) { return; }
    node.textContent = text || "";
    node.hidden = !text;
  }

  function poll() {
    fetch("/api/live", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (answer.status === 401) {
          status("Session ended, reload to log in.");
          return null;  // no next poll: the page stays as it last was
        }
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.json().then(function (data) {
          heatmap(data);
          streams(data);
          setText("live-start", stamp(data.window.start));
          setText("live-end", stamp(data.window.end));
          setText("live-updated", stamp(data.generated_at));
          setText("live-newest", data.newest_minute ? stamp(data.newest_minute) : "none yet");
          alerts(data);
          openEpisodes(data);
          status("");
          window.setTimeout(poll, EVERY_MS);
        });
      })
      .catch(function (err) {
        status("Could not update (" + err.message + "): trying again in 5 s.");
        window.setTimeout(poll, EVERY_MS);
      });
  }

  window.setTimeout(poll, EVERY_MS);
}());

// Live campaign page: one WebSocket to /ws/campaigns/<id>/, whose messages carry server-rendered
// partials marked hx-swap-oob. Each one replaces the element with the same id, then htmx
// processes it (so its hx-* controls work). Reconnects with exponential backoff and jitter;
// the server sends the current state first on every (re)connect, so nothing is missed.
// No inline script anywhere: the page only carries data-live-url on #live-indicator.
(function () {
  "use strict";

  var BASE_DELAY_MS = 500;
  var MAX_DELAY_MS = 30000;
  var CLOSE_POLICY = 4403;

  function setState(indicator, state, text) {
    indicator.classList.remove("is-live", "is-reconnecting", "is-closed");
    indicator.classList.add("is-" + state);
    indicator.dataset.state = state;
    var label = indicator.querySelector(".live-text");
    if (label) label.textContent = text;
  }

  // A new row first in its table (hx-swap-oob="afterbegin:#<tbody id>" on a <template> holding
  // the row: a row outside a table would not survive parsing), which keeps its newest
  // data-max-rows. No such table yet (nothing was there before): load the part that holds it
  // from data-feed-url instead.
  function prepend(node, selector) {
    var target = document.getElementById(selector.replace(/^#/, ""));
    if (!target) {
      if (node.dataset.feedUrl && window.htmx) {
        window.htmx.ajax("GET", node.dataset.feedUrl, { target: "#trade-feed", swap: "outerHTML" });
      }
      return null;
    }
    var row = node.content ? node.content.firstElementChild : node;
    if (!row || !row.id) return null;
    var existing = document.getElementById(row.id);
    if (existing) existing.remove();  // the same trade again (a repeated event): moved, not doubled
    node = row;
    target.prepend(node);
    var keep = parseInt(target.dataset.maxRows || "0", 10);
    while (keep && target.children.length > keep) target.lastElementChild.remove();
    return node;
  }

  // Apply out-of-band swaps: every top-level element with an id and hx-swap-oob replaces the
  // element of that id (outerHTML, the htmx default for hx-swap-oob="true"), or goes first in
  // the element an "afterbegin:#id" names.
  function applyOob(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    Array.prototype.slice.call(template.content.children).forEach(function (node) {
      var mode = node.getAttribute("hx-swap-oob");
      if (!node.id || !mode) return;
      node.removeAttribute("hx-swap-oob");
      if (mode.indexOf("afterbegin:") === 0) {
        node = prepend(node, mode.slice("afterbegin:".length));
        if (node && window.htmx) window.htmx.process(node);
        return;
      }
      var current = document.getElementById(node.id);
      if (!current) return;
      if (mode === "true" || mode === "outerHTML") {
        current.replaceWith(node);
      } else if (mode === "innerHTML") {
        current.replaceChildren.apply(current, Array.prototype.slice.call(node.childNodes));
        node = current;
      } else {
        return;
      }
      if (window.htmx) window.htmx.process(node);
    });
  }

  function start(indicator) {
    var attempt = 0;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
      indicator.dataset.liveUrl;

    function connect() {
      var socket = new WebSocket(url);
      socket.addEventListener("open", function () {
        attempt = 0;
        setState(indicator, "live", "live");
      });
      socket.addEventListener("message", function (message) {
        var data;
        try { data = JSON.parse(message.data); } catch (error) { return; }
        if (data.html) applyOob(data.html);
        document.dispatchEvent(new CustomEvent("volumebot:live", { detail: data }));
      });
      socket.addEventListener("close", function (event) {
        if (event.code === CLOSE_POLICY) {
          setState(indicator, "closed", "not available");
          return;
        }
        var delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, attempt));
        delay = delay / 2 + Math.random() * delay / 2;  // jitter: clients do not reconnect in step
        attempt += 1;
        setState(indicator, "reconnecting", "reconnecting…");
        setTimeout(connect, delay);
      });
    }
    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var indicator = document.getElementById("live-indicator");
    if (indicator && indicator.dataset.liveUrl && "WebSocket" in window) start(indicator);
  });
})();

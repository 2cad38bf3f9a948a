// volumebot page behaviour: toasts (also for HTMX responses) and the light/dark toggle.
// No inline scripts anywhere, so the Content-Security-Policy can forbid them.
(function () {
  "use strict";

  function showToast(level, text) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level || "info");
    toast.setAttribute("role", "status");
    toast.textContent = text;
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 6000);
  }
  window.volumebot = { showToast: showToast };

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#toasts .toast").forEach(function (toast) {
      setTimeout(function () { toast.remove(); }, 6000);
    });

    // The menu is a <details> (works without script on a phone); on wide screens keep it open.
    var menu = document.querySelector("details.menu");
    var wide = window.matchMedia("(min-width: 760px)");
    function syncMenu() { if (menu) menu.open = wide.matches; }
    syncMenu();
    wide.addEventListener("change", syncMenu);

    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var root = document.documentElement;
        var current = root.getAttribute("data-theme") ||
          (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
        var next = current === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        var body = new URLSearchParams({ theme: next });
        var token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
        fetch(document.body.dataset.themeUrl, {
          method: "POST", body: body, credentials: "same-origin",
          headers: { "X-CSRFToken": token },
        });
      });
    }
  });

  // Messages sent by the server on HTMX responses arrive as an HX-Trigger "messages" event.
  document.addEventListener("messages", function (event) {
    (event.detail.value || []).forEach(function (m) { showToast(m.level, m.text); });
  });
})();

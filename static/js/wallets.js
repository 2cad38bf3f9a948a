// Wallet pages: copy buttons. `data-copy` copies its value, `data-copy-from` the value of the
// element with that id. Delegated, so buttons inside HTMX-swapped partials work too.
(function () {
  "use strict";

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP development (no Clipboard API): a temporary selection.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) return;
    var text = button.dataset.copy;
    if (text === undefined) {
      var source = document.getElementById(button.dataset.copyFrom);
      text = source ? source.value || source.textContent : "";
    }
    var toast = (window.volumebot && window.volumebot.showToast) || function () {};
    copy(text).then(
      function () { toast("success", "Copied."); },
      function () { toast("error", "Copy failed: select the text and copy it by hand."); }
    );
  });
})();

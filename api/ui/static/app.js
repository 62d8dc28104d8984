// Keyboard shortcuts for worklists: j/k move, Enter opens, a letter shown
// on a button (c, r, m, …) presses it for the selected item after its reason
// is filled in, / focuses the reason, ? shows the keys. No inline script:
// the page's Content-Security-Policy forbids it.
(function () {
  "use strict";
  function rows() {
    var list = document.querySelector("[data-list]");
    if (!list) return [];
    return Array.prototype.slice.call(list.querySelectorAll("tbody tr, li[data-item]"));
  }
  var current = -1;
  function select(i) {
    var r = rows();
    if (!r.length) return;
    current = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (el, j) { el.classList.toggle("selected", j === current); });
    r[current].scrollIntoView({ block: "nearest" });
  }
  function help() {
    var h = document.getElementById("help");
    if (h) { h.remove(); return; }
    h = document.createElement("div");
    h.id = "help";
    h.textContent = "j / k: next / previous · Enter: open · /: reason · x: tick for a bulk decision · a i n, c r m (the letters on buttons): decide · ?: this help";
    document.body.appendChild(h);
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
    if (typing) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var r = rows();
    var el = r[current];
    switch (e.key) {
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "?": help(); break;
      case "Enter":
        if (el && el.dataset.href) window.location = el.dataset.href;
        break;
      case "x": // tick the item for a bulk decision
        if (el) { var cb = el.querySelector("[data-select]"); if (cb) cb.click(); }
        break;
      case "/":
        if (el) { var f = el.querySelector("[data-reason]"); if (f) { e.preventDefault(); f.focus(); } }
        break;
      default:
        if (!el) return;
        var b = el.querySelector('button[data-key="' + e.key + '"]');
        if (!b) return;
        var reason = el.querySelector("[data-reason]");
        if (reason && !reason.value) { e.preventDefault(); reason.focus(); return; }
        b.click();
    }
  });
  document.addEventListener("DOMContentLoaded", function () { if (rows().length) select(0); });
})();

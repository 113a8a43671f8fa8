// Copy buttons: <button data-copy="ID" hidden> copies the text of #ID.
// Without JavaScript the button stays hidden and the text stays selectable.
(function () {
  "use strict";
  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var status = button.parentElement.parentElement.querySelector(".copy-status");
    var say = function (text) { if (status) status.textContent = text; };
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = target.textContent.trim();
      var copied = function () { button.textContent = "Copied"; say("Copied to the clipboard."); };
      var failed = function () { select(target); say("Press Ctrl+C (⌘C) to copy the selected text."); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(copied, failed);
      } else {
        select(target);
        try { if (document.execCommand("copy")) { copied(); return; } } catch (e) { /* fall through */ }
        failed();
      }
    });
  });
})();

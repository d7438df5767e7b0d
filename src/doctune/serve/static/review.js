/* doctune serve: keyboard shortcuts of the record page. Every action is also a plain form or
   link on the page; this only saves reaching for the mouse.
   j / k next / previous record, a approve, r reject (focuses the reason; Enter sends it),
   e edit in place, ctrl+s (cmd+s) save the edit, Escape leaves a text field. */
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.isContentEditable);
  }
  function go(id) {
    var link = document.getElementById(id);
    if (link) { window.location.href = link.href; }
  }
  function submit(id) {
    var form = document.getElementById(id);
    if (form) { form.requestSubmit ? form.requestSubmit() : form.submit(); }
  }
  document.addEventListener("keydown", function (event) {
    var key = event.key;
    if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "s") {
      var box = document.getElementById("edit-box");
      if (box && box.open) { event.preventDefault(); submit("edit-form"); }
      return;
    }
    if (key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) {
      return;
    }
    if (key === "j") { go("next"); }
    else if (key === "k") { go("prev"); }
    else if (key === "a") { submit("approve-form"); }
    else if (key === "r") {
      var reason = document.getElementById("reason");
      if (reason) { event.preventDefault(); reason.focus(); }
    }
    else if (key === "e") {
      var edit = document.getElementById("edit-box");
      var field = document.getElementById("edit-question");
      if (edit && field) { event.preventDefault(); edit.open = true; field.focus(); }
    }
  });
})();

/* doctune serve: say when the data under an open page changed. The page carries the version
   stamp of the manifest it was made from (body[data-version]); every few seconds while the tab
   is visible, and whenever it comes back into view, this asks /api/state for the current one
   (one stat on the server) and shows the "data changed" notice once they differ. The app never
   takes the run lock, so a run may rewrite the output folder under any page. */
(function () {
  "use strict";
  var notice = document.getElementById("data-changed");
  var seen = document.body.getAttribute("data-version");
  if (!notice || !seen || !window.fetch) { return; }
  var EVERY_MS = 3000;
  var timer = null;

  function check() {
    if (!notice.hidden || document.hidden) { return; }
    fetch("/api/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state && state.version !== seen) {
          notice.hidden = false;
          window.clearInterval(timer);
        }
      })
      .catch(function () { /* the app stopped or restarts: nothing to say about the data */ });
  }
  timer = window.setInterval(check, EVERY_MS);
  document.addEventListener("visibilitychange", check);
  window.addEventListener("focus", check);
})();

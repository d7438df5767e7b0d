/* doctune serve: the Chat page without a page reload. The form works as a plain POST; this
   sends it to /chat/stream instead and shows each event as it arrives: the retrieved passages
   first, then the answer as the model writes it (the turn gets the class "done" once the whole
   answer is in). Every text goes in as textContent, never as HTML. */
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form || !window.fetch || !window.TextDecoder) { return; }
  var log = document.getElementById("chat-log");
  var sources = document.getElementById("chat-sources");
  var passages = document.getElementById("passages");
  var spec = document.getElementById("chat-spec");
  var question = document.getElementById("chat-question");
  var history = document.getElementById("chat-history");

  function turn(role, text) {
    var div = document.createElement("div");
    div.className = "turn " + role;
    var who = document.createElement("span");
    who.className = "muted";
    who.textContent = role === "user" ? "you:" : "model:";
    var pre = document.createElement("pre");
    pre.className = "text";
    pre.textContent = text;
    div.appendChild(who);
    div.appendChild(pre);
    log.appendChild(div);
    return pre;
  }
  function showSources(list) {
    passages.textContent = "";
    list.forEach(function (s) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = s.url;
      a.textContent = s.label;
      var quote = document.createElement("blockquote");
      quote.textContent = s.text.length > 600 ? s.text.slice(0, 600) + "…" : s.text;
      li.appendChild(a);
      li.appendChild(quote);
      passages.appendChild(li);
    });
    sources.hidden = list.length === 0;
  }
  function handle(ev, pending) {
    if (ev.event === "start") { spec.textContent = "answered by " + ev.spec; }
    else if (ev.event === "sources") { showSources(ev.sources); }
    else if (ev.event === "token") {
      if (!pending.dataset.streaming) { pending.textContent = ""; pending.dataset.streaming = "1"; }
      pending.textContent += ev.text;
    }
    else if (ev.event === "answer") {
      pending.textContent = ev.text;
      history.value = ev.history;
      pending.parentNode.classList.add("done");
    }
    else if (ev.event === "error") {
      pending.textContent = "error: " + ev.message;
      pending.className = "text bad";
      pending.parentNode.classList.add("done");
    }
  }
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.value === "/reset") { return; }
    event.preventDefault();
    var data = new FormData(form);
    var asked = question.value.trim();
    if (!asked) { return; }
    turn("user", asked);
    var pending = turn("assistant", "…");
    sources.hidden = true;
    question.value = "";
    fetch("/chat/stream", { method: "POST", body: new URLSearchParams(data), credentials: "same-origin" })
      .then(function (response) {
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            buffer += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
            var lines = buffer.split("\n");
            buffer = lines.pop();
            lines.forEach(function (line) { if (line.trim()) { handle(JSON.parse(line), pending); } });
            if (!chunk.done) { return pump(); }
          });
        }
        return pump();
      })
      .catch(function (err) {
        pending.textContent = "error: " + err;
        pending.parentNode.classList.add("done");
      });
  });
  question.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });
})();

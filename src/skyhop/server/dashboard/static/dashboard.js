// skyhop dashboard: the live log of a job, from Server-Sent Events (no other script than this and htmx).
// Each event is one line of output; it is added with textContent, so a log line is never HTML.
(function () {
  "use strict";
  var MAX_LINES = 5000;
  function follow(pre) {
    var state = document.getElementById("log-state");
    var source = new EventSource(pre.getAttribute("data-stream"));
    function say(text) { if (state) { state.textContent = text; } }
    source.onopen = function () { say("following"); };
    source.onmessage = function (event) {
      var line = document.createElement("div");
      line.className = "line";
      line.textContent = event.data;
      pre.appendChild(line);
      while (pre.childNodes.length > MAX_LINES) { pre.removeChild(pre.firstChild); }
      var nearBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 80;
      if (nearBottom) { pre.scrollTop = pre.scrollHeight; }
    };
    source.addEventListener("end", function () { source.close(); say("the job has ended"); });
    source.addEventListener("failed", function (event) { source.close(); say(event.data); });
    source.onerror = function () { if (source.readyState === EventSource.CLOSED) { say("disconnected"); } else { say("reconnecting…"); } };
    window.addEventListener("beforeunload", function () { source.close(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var pre = document.getElementById("log");
    if (pre && pre.getAttribute("data-stream")) { follow(pre); }
  });
})();

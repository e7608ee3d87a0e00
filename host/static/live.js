// Live progress of a running sync on an integration's page. The page works
// without this file (it refreshes itself while a sync runs); with it, the
// counts update as pages are committed and the page reloads when it ends.
(function () {
  "use strict";
  var panel = document.getElementById("live-progress");
  if (!panel || typeof EventSource === "undefined") { return; }
  var source = new EventSource(panel.getAttribute("data-events"));
  source.addEventListener("progress", function (message) {
    var step = JSON.parse(message.data);
    var c = step.counts;
    if (step.state === "running") {
      panel.textContent = "Page " + step.pages + ": " + c.read + " read, " + c.created + " created, " +
        c.updated + " updated, " + c.deleted + " deleted, " + c.failed + " failed";
    } else {
      source.close();
      window.location.reload();
    }
  });
  // The session ended (signed out, expired, account removed): the page
  // reloads into the sign-in form.
  source.addEventListener("session-ended", function () {
    source.close();
    window.location.reload();
  });
})();

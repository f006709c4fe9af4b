// kb editor's desk: the live preview of an edited translation (sanitised HTML from the server).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="kb-csrf"]');
  var body = document.querySelector("textarea[data-preview]");
  if (!meta || !body) return;
  var target = document.getElementById(body.getAttribute("data-preview"));
  var timer = null, sent = 0;

  function refresh() {
    var mine = ++sent;
    fetch("/admin/api/preview", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": meta.getAttribute("content")},
      body: JSON.stringify({markdown: body.value})
    }).then(function (response) {
      if (!response.ok) throw new Error("preview: HTTP " + response.status);
      return response.json();
    }).then(function (data) {
      if (mine === sent) {
        target.innerHTML = data.html;  // sanitised on the server (nh3), like the site's pages
        target.removeAttribute("data-stale");
      }
    }).catch(function () {
      target.setAttribute("data-stale", "true");
    });
  }

  body.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
})();

// Polls reload.js beside the page: a script element loads from file://,
// where fetch is refused. The page reloads when the stamp it sets changes.
(function () {
  "use strict";
  var stamp = "$stamp";
  window.imagebuildReload = function (current) {
    if (current !== stamp) {
      location.reload();
    }
  };
  setInterval(function () {
    var probe = document.createElement("script");
    probe.src = "reload.js?" + Date.now();
    probe.onload = probe.onerror = function () {
      probe.remove();
    };
    document.head.appendChild(probe);
  }, 1000);
})();

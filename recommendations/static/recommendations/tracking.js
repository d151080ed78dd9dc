// Tell the events API which recommended item was clicked, so click-through is known.
// Blocks carry their impression token; links carry their position. Loaded once per
// block, it installs one listener per page.
(function () {
  "use strict";
  if (window.recommendationsTracking) {
    return;
  }
  window.recommendationsTracking = true;
  document.addEventListener("click", function (event) {
    // Any link of an item counts: a host's card template may not mark its links.
    var link = event.target.closest ? event.target.closest("a") : null;
    var item = link ? link.closest("[data-rec-item]") : null;
    var block = item ? item.closest("[data-rec-impression]") : null;
    var position = link ? link.dataset.recPosition || item && item.dataset.recPosition : null;
    if (!block || !item || position === undefined || position === null) {
      return;
    }
    var body = new FormData();
    body.append("kind", "click");
    body.append("product", item.dataset.recItem);
    body.append("block", block.dataset.recBlock);
    body.append("impression", block.dataset.recImpression);
    body.append("position", position);
    // keepalive lets the request finish while the browser follows the link.
    fetch(block.dataset.recEvents, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      keepalive: true,
      headers: {"X-CSRFToken": block.dataset.recCsrf || ""},
    }).catch(function () {});
  });
})();

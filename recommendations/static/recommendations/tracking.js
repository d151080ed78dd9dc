// Tell the events API which recommended item was clicked, so click-through is known.
// Blocks carry their impression token; items carry their position. Loaded once per
// block, it installs one listener per page.
(function () {
  "use strict";
  if (window.recommendationsTracking) {
    return;
  }
  window.recommendationsTracking = true;
  document.addEventListener("click", function (event) {
    // Any link of an item counts: a host's card template may not mark its links.
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    var item = link ? link.closest("[data-rec-item][data-rec-position]") : null;
    var block = item ? item.closest("[data-rec-impression]") : null;
    if (!block) {
      return;
    }
    var body = new FormData();
    body.append("kind", "click");
    body.append("product", item.dataset.recItem);
    body.append("block", block.dataset.recBlock);
    body.append("impression", block.dataset.recImpression);
    body.append("position", item.dataset.recPosition);
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

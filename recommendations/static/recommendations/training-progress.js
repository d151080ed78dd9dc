// Follow a training on the admin's training runs page: poll the staff-only progress
// view, show the stage, the algorithm and the percent, and reload the page once the
// training has ended so its runs, their metrics and the chart appear. Its words come
// translated in the panel's data-text-* attributes.
(function () {
  "use strict";
  var panel = document.getElementById("training-progress");
  if (!panel || panel.dataset.following) {
    return;
  }
  panel.dataset.following = "1";
  var FAST = 2000; // while a training runs or is starting
  var SLOW = 10000; // otherwise: a training started elsewhere (nightly, shell) shows up too
  var GIVE_UP_STARTING = 120000;
  var started = Date.now();
  var starting = panel.dataset.starting === "1";
  var seenRunning = panel.dataset.running === "1";
  var latestRun = panel.dataset.latestRun || "";
  var stage = panel.querySelector(".training-progress__stage");
  var algorithm = panel.querySelector(".training-progress__algorithm");
  var bar = panel.querySelector(".training-progress__bar");
  var percent = panel.querySelector(".training-progress__percent");
  var heartbeat = panel.querySelector(".training-progress__heartbeat");
  var note = panel.querySelector(".training-progress__note");

  function show(state) {
    panel.hidden = false;
    stage.textContent = state.stage || panel.dataset.textStarting;
    algorithm.textContent = state.algorithm ? "(" + state.algorithm + ")" : "";
    bar.value = state.percent || 0;
    percent.textContent = String(state.percent || 0);
    if (heartbeat && state.heartbeat_at) {
      heartbeat.textContent = new Date(state.heartbeat_at).toLocaleTimeString();
    }
    note.textContent = state.stale
      ? panel.dataset.textStale
      : "";
  }

  function poll() {
    fetch(panel.dataset.url, {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        var newRun = String(state.latest_run || "") !== latestRun;
        if (state.running && !state.stale) {
          seenRunning = true;
          starting = false;
          show(state);
        } else if (seenRunning || (starting && newRun)) {
          // Finished (or failed): the page itself shows the outcome.
          window.location.reload();
          return;
        } else if (state.running) {
          show(state);
        } else if (starting && Date.now() - started > GIVE_UP_STARTING) {
          starting = false;
          note.textContent = panel.dataset.textNotStarted;
        }
        window.setTimeout(poll, seenRunning || starting ? FAST : SLOW);
      })
      .catch(function () {
        window.setTimeout(poll, SLOW);
      });
  }

  window.setTimeout(poll, seenRunning || starting ? FAST : SLOW);
})();

// Result page: poll the job status while it is queued or running, update the progress, reload when it ends.
(function () {
  "use strict";
  var job = document.getElementById("job");
  if (!job) { return; }
  var state = job.getAttribute("data-state");
  if (state !== "queued" && state !== "running") { return; }
  var url = job.getAttribute("data-status-url");
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (s) {
        document.getElementById("job-state").textContent = s.state;
        var stage = document.getElementById("job-stage");
        if (stage) { stage.textContent = s.stage; }
        var bar = document.getElementById("job-progress");
        if (bar) { bar.value = s.progress; }
        job.setAttribute("data-state", s.state);
        if (s.state === "done" || s.state === "failed") { window.location.reload(); } else { setTimeout(poll, 1500); }
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();

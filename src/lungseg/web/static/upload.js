// Upload page: send the form with a progress bar (a large DICOM series takes a while), then open the result
// page the server redirected to; a refusal's reason is shown above the form. Without this script the form
// posts as usual.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var bar = document.getElementById("upload-progress");
  var text = document.getElementById("upload-progress-text");
  if (!form || !bar || !text || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }
  var button = document.getElementById("upload");

  function say(message) {
    text.textContent = message;
    text.hidden = false;
  }

  function refused(html, status) {
    var page = new DOMParser().parseFromString(html || "", "text/html");
    var reason = page.querySelector(".errors");
    var shown = document.getElementById("upload-errors");
    if (!shown) {
      shown = document.createElement("div");
      shown.id = "upload-errors";
      shown.className = "errors";
      shown.setAttribute("role", "alert");
      form.parentNode.insertBefore(shown, form);
    }
    shown.textContent = reason ? reason.textContent.trim() : "The upload failed (HTTP " + status + ").";
    bar.hidden = true;
    text.hidden = true;
    if (button) { button.disabled = false; }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.getAttribute("action"));
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      var percent = Math.round((100 * e.loaded) / e.total);
      bar.hidden = false;
      bar.value = percent;
      say(percent < 100 ? "Uploading\u2026 " + percent + " %" : "Uploaded; checking the scan\u2026");
    });
    request.addEventListener("load", function () {
      var landed = request.responseURL || "";
      if (request.status === 200 && /\/analyses\/[^/]+$/.test(landed) && !/\/analyses\/new$/.test(landed)) {
        window.location.assign(landed);  // the result page the server redirected to
      } else {
        refused(request.responseText, request.status);
      }
    });
    request.addEventListener("error", function () { refused("", "no answer"); });
    if (button) { button.disabled = true; }
    var earlier = document.getElementById("upload-errors");
    if (earlier) { earlier.remove(); }
    say("Uploading\u2026");
    request.send(new FormData(form));
  });
}());

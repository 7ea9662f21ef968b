/*
 * Upload forms with a progress bar: forms marked `data-upload` are posted with
 * XMLHttpRequest so large PDFs show how far along they are. The server answers with
 * where to go next when it worked ({"location": "/…"}, since a real redirect would be
 * followed silently), or with the form and its errors, status 400 (we swap the form in
 * place). Without JavaScript the form posts normally and gets a plain redirect.
 * No inline scripts, no third parties: works under `script-src 'self'`.
 */
(function () {
  "use strict";

  function formatBytes(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function chosenFiles(form) {
    var files = [];
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files || [], function (file) {
        files.push({ input: input, file: file });
      });
    });
    return files;
  }

  function showError(form, message) {
    var box = form.querySelector("[data-upload-error]");
    if (box) {
      box.textContent = message;
      box.hidden = false;
    } else {
      window.alert(message);
    }
  }

  function tooLarge(form) {
    var found = null;
    chosenFiles(form).forEach(function (entry) {
      var max = parseInt(entry.input.getAttribute("data-max-bytes") || "0", 10);
      if (!found && max && entry.file.size > max) {
        found = "“" + entry.file.name + "” is " + formatBytes(entry.file.size) +
          "; the most this field takes is " + formatBytes(max) + ".";
      }
    });
    return found;
  }

  function setBusy(form, busy) {
    form.querySelectorAll("[data-submit], button[type=submit]").forEach(function (button) {
      button.disabled = busy;
    });
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function progress(form, loaded, total) {
    var box = form.querySelector("[data-progress]");
    if (!box) return;
    box.hidden = false;
    var percent = total ? Math.floor((loaded / total) * 100) : 0;
    var bar = box.querySelector("[data-progress-bar]");
    var text = box.querySelector("[data-progress-text]");
    var meter = box.querySelector("[role=progressbar]");
    if (bar) bar.style.width = percent + "%";
    if (meter) meter.setAttribute("aria-valuenow", String(percent));
    if (text) {
      text.textContent = loaded >= total
        ? "Uploaded. Checking the file…"
        : "Uploading " + formatBytes(loaded) + " of " + formatBytes(total) + " (" + percent + "%)";
    }
  }

  // Saved: the server says where to go as {"location": "..."} (a real redirect would be
  // followed by XMLHttpRequest itself); otherwise use wherever a redirect led.
  function nextLocation(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      try {
        var location = JSON.parse(xhr.responseText).location;
        if (typeof location === "string" && location.charAt(0) === "/" && location.charAt(1) !== "/") {
          return location;
        }
      } catch (ignored) { /* fall through */ }
    }
    return xhr.responseURL;
  }

  function swapForm(form, html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = form.id ? doc.getElementById(form.id) : doc.querySelector("form[data-upload]");
    if (!fresh) return false;
    var imported = document.importNode(fresh, true);
    form.parentNode.replaceChild(imported, form);
    bind(imported);
    var firstError = imported.querySelector(".errorlist");
    if (firstError && firstError.scrollIntoView) firstError.scrollIntoView({ block: "center" });
    return true;
  }

  function submit(form, event) {
    if (!window.FormData || !window.XMLHttpRequest || !chosenFiles(form).length) {
      return; // nothing large to upload: let the browser post the form
    }
    event.preventDefault();
    var problem = tooLarge(form);
    if (problem) {
      showError(form, problem);
      return;
    }
    var errorBox = form.querySelector("[data-upload-error]");
    if (errorBox) errorBox.hidden = true;
    var action = form.getAttribute("action") || window.location.href;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) progress(form, e.loaded, e.total);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 400 && swapForm(form, xhr.responseText)) return;
      if (xhr.status >= 200 && xhr.status < 300) {
        window.location.assign(nextLocation(xhr) || action);
        return;
      }
      setBusy(form, false);
      // Too large: the server (Django or nginx) says so with the limit, in plain text.
      var type = xhr.getResponseHeader("Content-Type") || "";
      if (xhr.status === 413 && type.indexOf("text/plain") === 0 && xhr.responseText) {
        showError(form, xhr.responseText.trim());
        return;
      }
      var reason = xhr.status === 413 ? "the file is too large for the server"
        : xhr.status === 403 ? "your session may have expired; reload the page and log in again"
        : "the server answered " + xhr.status;
      showError(form, "The upload did not go through: " + reason + ".");
    });
    xhr.addEventListener("error", function () {
      setBusy(form, false);
      showError(form, "The upload was interrupted. Check your connection and try again.");
    });
    setBusy(form, true);
    var box = form.querySelector("[data-progress]");
    if (box) box.hidden = false;
    xhr.send(new FormData(form));
  }

  // The price as we read it, shown back while the seller types ("12,50" → €12.50), from
  // the server's own reading (catalog.money); the hidden price_confirmed then carries
  // it, so the form saves at the first submit. Without this, the server asks once.
  function bindPrice(form) {
    var input = form.querySelector("input[data-reads-price]");
    var currency = form.querySelector("[name=currency]");
    var confirmed = form.querySelector("input[name=price_confirmed]");
    if (!input || !confirmed || !window.fetch || !window.URLSearchParams) return;
    var out = document.createElement("span");
    out.className = "help price-reading";
    out.id = input.id + "-reading";
    out.setAttribute("aria-live", "polite");
    input.insertAdjacentElement("afterend", out);
    var described = input.getAttribute("aria-describedby");
    input.setAttribute("aria-describedby", (described ? described + " " : "") + out.id);
    var timer = null;
    var asked = 0;
    function read() {
      var ticket = ++asked;
      confirmed.value = "";
      if (!input.value.trim()) { out.textContent = ""; return; }
      var query = new URLSearchParams({ price: input.value, currency: currency ? currency.value : "" });
      window.fetch(input.getAttribute("data-reads-price") + "?" + query.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (response) { return response.json(); }).then(function (data) {
        if (ticket !== asked) return; // the seller typed on meanwhile
        if (data.error) { out.textContent = data.error; return; }
        out.textContent = data.shown_back ? "We read this as " + data.display + "." : "";
        confirmed.value = data.shown_back ? data.token : "";
      }).catch(function () { /* the server asks on submit instead */ });
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(read, 250);
    });
    if (currency) currency.addEventListener("change", read);
    if (input.value && !confirmed.value) read();
  }

  function bind(form) {
    form.addEventListener("submit", function (event) { submit(form, event); });
    bindPrice(form);
  }

  document.querySelectorAll("form[data-upload]").forEach(bind);
})();

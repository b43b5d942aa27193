// pollen console: live regions from server-sent events, and the create form's JSON preview.
// No framework, no build step. The server renders (and escapes) every HTML fragment.
"use strict";

(function () {
  function liveRegions() {
    var url = document.body.getAttribute("data-live");
    if (!url || !window.EventSource) return;
    var note = document.getElementById("live-state");
    var source = new EventSource(url);
    source.onmessage = function (message) {
      var regions = JSON.parse(message.data);
      Object.keys(regions).forEach(function (id) {
        var element = document.getElementById(id);
        if (element) element.innerHTML = regions[id];
      });
      if (note) note.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    };
    source.addEventListener("gone", function (message) {
      source.close();
      if (note) note.textContent = "No longer updating: " + message.data + ".";
    });
    source.onerror = function () {
      if (note) note.textContent = "Connection lost; reconnecting…";
    };
    source.onopen = function () {
      if (note) note.textContent = "Updates live.";
    };
  }

  function jsonPreview() {
    var form = document.getElementById("new-instance");
    var editor = document.getElementById("field-instance_json");
    if (!form || !editor) return;
    // An editor the user changed, or left empty to paste into, is left alone.
    var userEdited = editor.value.trim() === "";
    editor.addEventListener("input", function () { userEdited = true; });
    var timer = null;
    function refresh() {
      if (userEdited) return;
      var data = new URLSearchParams(new FormData(form));
      data.delete("instance_json");
      fetch("/console/new/preview", {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) { if (text !== null && !userEdited) editor.value = text; })
        .catch(function () {});
    }
    function schedule(event) {
      if (event.target === editor) return;
      clearTimeout(timer);
      timer = setTimeout(refresh, 200);
    }
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
  }

  function focusErrors() {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveRegions();
    jsonPreview();
    focusErrors();
  });
})();

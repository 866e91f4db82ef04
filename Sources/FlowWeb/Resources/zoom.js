// tailflow's only script: drag across a time chart to zoom the page's window to that span.
// The pages are complete without it (the window picker and the previous/next/zoom-out links do the same).
"use strict";
(function () {
  function iso(ms) { return new Date(ms).toISOString().replace(".000Z", "Z"); }
  document.querySelectorAll("svg.stacked[data-from][data-to]").forEach(function (svg) {
    var from = Date.parse(svg.getAttribute("data-from")), to = Date.parse(svg.getAttribute("data-to"));
    var plotX = parseFloat(svg.getAttribute("data-plot-x")), plotW = parseFloat(svg.getAttribute("data-plot-width"));
    var viewW = svg.viewBox.baseVal.width;
    if (!(to > from) || !(plotW > 0)) { return; }
    var start = null, box = null;
    function timeAt(clientX) {
      var r = svg.getBoundingClientRect();
      var x = (clientX - r.left) * viewW / r.width;
      var t = (x - plotX) / plotW;
      return from + Math.min(Math.max(t, 0), 1) * (to - from);
    }
    svg.style.cursor = "crosshair";
    svg.addEventListener("mousedown", function (e) {
      if (e.button !== 0) { return; }
      e.preventDefault();
      start = e.clientX;
      box = document.createElement("div");
      box.className = "zoombox";
      var r = svg.getBoundingClientRect();
      box.style.top = (r.top + window.scrollY) + "px";
      box.style.height = r.height + "px";
      box.style.left = (start + window.scrollX) + "px";
      box.style.width = "0px";
      document.body.appendChild(box);
    });
    window.addEventListener("mousemove", function (e) {
      if (start === null) { return; }
      box.style.left = (Math.min(start, e.clientX) + window.scrollX) + "px";
      box.style.width = Math.abs(e.clientX - start) + "px";
    });
    window.addEventListener("mouseup", function (e) {
      if (start === null) { return; }
      var a = timeAt(Math.min(start, e.clientX)), b = timeAt(Math.max(start, e.clientX));
      var moved = Math.abs(e.clientX - start);
      start = null;
      box.remove();
      if (moved < 6 || b - a < 60000) { return; }
      var url = new URL(window.location.href);
      url.searchParams.set("from", iso(Math.floor(a / 60000) * 60000));
      url.searchParams.set("to", iso(Math.ceil(b / 60000) * 60000));
      url.searchParams.delete("step");
      url.searchParams.delete("after");
      window.location.assign(url.toString());
    });
  });
})();

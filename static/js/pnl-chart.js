// The P&L page's chart: daily P&L as bars and the year-to-date sum as a line. The numbers come
// from a json_script block (never localised text); labels come from the canvas's data attributes,
// already translated by the page. No inline script, so the page keeps its strict CSP.
(function () {
  "use strict";
  function draw() {
    var canvas = document.getElementById("pnl-chart");
    var source = document.getElementById("pnl-chart-data");
    if (!canvas || !source || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var rtl = canvas.dataset.rtl === "1";
    new Chart(canvas, {
      data: {
        labels: data.dates,
        datasets: [
          { type: "bar", label: canvas.dataset.dailyLabel, data: data.daily, yAxisID: "y" },
          { type: "line", label: canvas.dataset.cumulativeLabel, data: data.cumulative, yAxisID: "y", pointRadius: 0 }
        ]
      },
      options: {
        animation: false,
        locale: "en-US",
        plugins: { legend: { rtl: rtl }, tooltip: { rtl: rtl } },
        scales: { x: { reverse: rtl }, y: { position: rtl ? "right" : "left" } }
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

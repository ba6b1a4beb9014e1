// The risk dashboard's charts: the VaR/ES history of the scope's runs, and the backtest (daily
// P&L as bars, −VaR as a line, exceptions marked). Numbers come from json_script blocks (never
// localised text); labels from the canvases' data attributes, already translated by the page.
// The live region (#risk-live) is reloaded by htmx after every run: the charts are drawn again
// from the new blocks. No inline script, so the page keeps its strict CSP.
(function () {
  "use strict";
  var charts = [];

  function read(id) {
    var source = document.getElementById(id);
    return source ? JSON.parse(source.textContent) : null;
  }

  function options(rtl) {
    return {
      animation: false,
      locale: "en-US",
      plugins: { legend: { rtl: rtl }, tooltip: { rtl: rtl } },
      scales: { x: { reverse: rtl }, y: { position: rtl ? "right" : "left" } }
    };
  }

  function history() {
    var canvas = document.getElementById("risk-history-chart");
    var data = read("risk-history-data");
    if (!canvas || !data) {
      return;
    }
    charts.push(new Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: canvas.dataset.varLabel, data: data["var"], pointRadius: 2 },
          { label: canvas.dataset.esLabel, data: data.es, pointRadius: 2 }
        ]
      },
      options: options(canvas.dataset.rtl === "1")
    }));
  }

  function backtest() {
    var canvas = document.getElementById("risk-backtest-chart");
    var data = read("risk-backtest-data");
    if (!canvas || !data) {
      return;
    }
    var limit = data["var"].map(function (value) { return -value; });
    var exceptions = data.pnl.map(function (value, i) { return data.exception[i] ? value : null; });
    charts.push(new Chart(canvas, {
      data: {
        labels: data.dates,
        datasets: [
          { type: "bar", label: canvas.dataset.pnlLabel, data: data.pnl },
          { type: "line", label: canvas.dataset.varLabel, data: limit, pointRadius: 0 },
          { type: "line", label: canvas.dataset.exceptionLabel, data: exceptions, showLine: false, pointRadius: 5, pointStyle: "crossRot" }
        ]
      },
      options: options(canvas.dataset.rtl === "1")
    }));
  }

  function draw() {
    if (typeof Chart === "undefined") {
      return;
    }
    charts.forEach(function (chart) { chart.destroy(); });
    charts = [];
    history();
    backtest();
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "risk-live") {
      draw();
    }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

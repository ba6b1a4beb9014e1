// The risk dashboard's charts: the VaR/ES history of the scope's runs, and the backtests (daily
// P&L as bars, −VaR as a line, exceptions marked; one for a desk, one per desk for the firm).
// Numbers come as JSON in each canvas's data-series (never localised text: htmx drops <script>
// blocks, json_script's included, from reloaded regions); labels from its other data
// attributes, already translated by the page.
// The live region (#risk-live) is reloaded by htmx after every run: the charts are drawn again
// from the new blocks. No inline script, so the page keeps its strict CSP.
(function () {
  "use strict";
  var charts = [];

  function read(canvas) {
    return canvas && canvas.dataset.series ? JSON.parse(canvas.dataset.series) : null;
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
    var canvas = document.querySelector("canvas[data-chart=history]");
    var data = read(canvas);
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

  function backtest(canvas) {
    var data = read(canvas);
    if (!data || !data.dates) {
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
    // Charts whose canvas a reload removed are forgotten, not destroyed: Chart.js would put
    // the canvas's old style attribute back, which the page's CSP refuses.
    charts = charts.filter(function (chart) { return document.contains(chart.canvas); });
    if (!charts.some(function (chart) { return chart.canvas.dataset.chart === "history"; })) {
      history();
    }
    document.querySelectorAll("canvas[data-chart=backtest]").forEach(function (canvas) {
      if (!charts.some(function (chart) { return chart.canvas === canvas; })) {
        backtest(canvas);
      }
    });
  }

  // After any swap (the live region's reload, a pushed row) the canvases may be new ones.
  document.addEventListener("htmx:afterSettle", function () {
    var fresh = Array.prototype.some.call(
      document.querySelectorAll("canvas.risk-chart"),
      function (canvas) { return typeof Chart !== "undefined" && !Chart.getChart(canvas); }
    );
    if (fresh) {
      draw();
    }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

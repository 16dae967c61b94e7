// Draws every <canvas data-chart="ID"> from the JSON in <script id="ID">: the chart's
// type, title, labels and datasets, built by workers/console/charts.py.
(function () {
  "use strict";
  const palette = ["#2f6fde", "#e8743b", "#19a979", "#ed4a7b", "#945ecf", "#13a4b4",
    "#525df4", "#bf399e", "#6c8893", "#ee6868", "#2f9e44", "#f0b400"];
  const number = new Intl.NumberFormat();
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) { return; }
    const spec = JSON.parse(source.textContent);
    const line = spec.type === "line";
    const shown = function (v) { return number.format(v) + (spec.percent ? " %" : ""); };
    const datasets = spec.datasets.map(function (set, i) {
      const colour = palette[i % palette.length];
      return Object.assign({}, set, {
        backgroundColor: line ? colour : spec.datasets.length > 1 ? colour
          : spec.labels.map(function (_, j) { return palette[j % palette.length]; }),
        borderColor: colour,
        tension: 0.2,
      });
    });
    new Chart(canvas, {
      type: spec.type,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          title: {display: Boolean(spec.title), text: spec.title},
          legend: {display: line || spec.datasets.length > 1},
          tooltip: {callbacks: {label: function (c) {
            return (c.dataset.label ? c.dataset.label + ": " : "") + shown(c.parsed.y);
          }}},
        },
        scales: {y: {beginAtZero: true, ticks: {callback: shown}}},
      },
    });
  });
})();

// Refreshes the statistics box (#vc-stats) from /api/stats every data-refresh milliseconds,
// and the chart (#vc-chart) when the numbers moved.
(function () {
  var box = document.getElementById("vc-stats");
  if (!box || !window.fetch) return;
  var every = Number(box.dataset.refresh) || 5000;
  var fields = {
    "vc-online": function (s) { return s.online; },
    "vc-today": function (s) { return s.visits.today; },
    "vc-yesterday": function (s) { return s.visits.yesterday; },
    "vc-week": function (s) { return s.visits.this_week; },
    "vc-month": function (s) { return s.visits.this_month; },
    "vc-total": function (s) { return s.visits.total; }
  };
  var chart = document.getElementById("vc-chart");
  var chartSrc = chart ? chart.getAttribute("src") : "";
  var lastViews = null;
  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, " "); }
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch("/api/stats", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (s) {
        for (var id in fields) {
          var el = document.getElementById(id);
          if (el) el.textContent = group(fields[id](s));
        }
        if (chart && lastViews !== null && s.page_views.total !== lastViews) {
          chart.src = chartSrc + "&t=" + Date.now();
        }
        lastViews = s.page_views.total;
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();

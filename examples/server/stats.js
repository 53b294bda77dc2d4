// Shows the live numbers: the statistics box (#vc-stats) from /api/stats and the article's views
// (#article-views) from /api/articles/{id}, as soon as the page is shown, again once the page's
// beacon has been counted (the `vc:counted` event, in beacon mode), and every data-refresh
// milliseconds; the chart (#vc-chart) when the numbers moved.
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
  var views = document.getElementById("article-views");
  var chart = document.getElementById("vc-chart");
  var chartSrc = chart ? chart.getAttribute("src") : "";
  var lastViews = null;
  var timer = null;
  var round = 0;
  function group(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, " "); }
  function json(url) {
    return fetch(url, { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
  }
  function refresh() {
    var done = [json("/api/stats").then(function (s) {
      for (var id in fields) {
        var el = document.getElementById(id);
        if (el) el.textContent = group(fields[id](s));
      }
      if (chart && lastViews !== null && s.page_views.total !== lastViews) {
        chart.src = chartSrc + "&t=" + Date.now();
      }
      lastViews = s.page_views.total;
    })];
    if (views && views.dataset.article) {
      done.push(json("/api/articles/" + views.dataset.article).then(function (a) {
        views.textContent = group(a.views.total);
      }));
    }
    return Promise.all(done).catch(function () {});
  }
  // One chain of refreshes: a refresh asked for early (the beacon's event) restarts it.
  function tick() {
    var mine = ++round;
    clearTimeout(timer);
    (document.hidden ? Promise.resolve() : refresh()).then(function () {
      if (mine === round) timer = setTimeout(tick, every);
    });
  }
  document.addEventListener("vc:counted", tick);
  tick();
})();

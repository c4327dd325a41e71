// Hagukumi console: small helpers, no library. Pages work without this script; it only adds
// sorting and filtering of tables in the browser and a CSRF-aware fetch for live checks.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  window.hagukumi = {
    csrf: meta ? meta.content : "",
    post: function (url, body) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": this.csrf },
        body: JSON.stringify(body)
      }).then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
    }
  };
  // <input data-filter-table="ID">: hide rows of table#ID whose text lacks what is typed.
  document.querySelectorAll("input[data-filter-table]").forEach(function (input) {
    var table = document.getElementById(input.getAttribute("data-filter-table"));
    if (!table) return;
    var status = document.getElementById(input.getAttribute("aria-controls") + "-count");
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase(), shown = 0;
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var hit = !q || row.textContent.toLowerCase().indexOf(q) >= 0;
        row.hidden = !hit; if (hit) shown++;
      });
      if (status) status.textContent = shown;
    });
  });
  // <table data-sortable>: header buttons sort the rows (numbers as numbers).
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, index) {
      if (th.hasAttribute("data-nosort")) return;
      var button = document.createElement("button");
      button.type = "button"; button.className = "link"; button.textContent = th.textContent;
      th.textContent = ""; th.appendChild(button); th.setAttribute("aria-sort", "none");
      button.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (o) { o.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = (a.cells[index] || {}).getAttribute ? a.cells[index].getAttribute("data-value") || a.cells[index].textContent.trim() : "";
          var y = (b.cells[index] || {}).getAttribute ? b.cells[index].getAttribute("data-value") || b.cells[index].textContent.trim() : "";
          var nx = parseFloat(x.replace(/,/g, "")), ny = parseFloat(y.replace(/,/g, ""));
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, document.documentElement.lang);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  // <form data-confirm="...">: ask before a change that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
})();

// The program form's live check: as the clerk types the rule or the examples, the form is sent
// (debounced) to /console/programs/check, which runs the API's own check; the rule's error with
// its suggestion and each example's result appear beside the fields. Saving works without this.
(function () {
  "use strict";
  var form = document.getElementById("program-form");
  var texts = document.getElementById("live-texts");
  if (!form || !texts || !window.hagukumi) return;
  var status = document.getElementById("rule-status");
  var results = document.getElementById("examples-result");
  var rule = document.getElementById("p-eligibility");
  var say = function (name) { return texts.getAttribute("data-" + name) || ""; };
  var timer = null, sent = 0;

  function fields() {
    var body = { category: [] };
    new FormData(form).forEach(function (value, key) {
      if (key === "_csrf") return;
      if (key === "category") body.category.push(value); else body[key] = value;
    });
    body.per_child = document.getElementById("p-per_child").checked;
    return body;
  }

  function line(tag, cls, text) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = text;
    return el;
  }

  function showRule(answer) {
    status.textContent = "";
    var error = answer.errors && answer.errors.eligibility;
    if (error) {
      status.appendChild(line("strong", "error-text", say("bad")));
      error.split("\n").forEach(function (text) { status.appendChild(line("p", "error-text", text)); });
      status.setAttribute("role", "alert");
      rule.setAttribute("aria-invalid", "true");
    } else if (answer.rule_ok) {
      status.appendChild(line("span", "ok-text", say("ok")));
      status.setAttribute("role", "status");
      rule.removeAttribute("aria-invalid");
    } else if (answer.errors && answer.errors.general) {
      // e.g. every rule checker busy: said in the page's language, as the server wrote it
      status.appendChild(line("p", "error-text", answer.errors.general));
    }
  }

  function cell(row, tag, text, cls) {
    var el = line(tag, cls || "", text);
    if (tag === "th") el.setAttribute("scope", "row");
    row.appendChild(el);
  }

  function showExamples(answer) {
    results.textContent = "";
    var problem = answer.errors && answer.errors.examples;
    if (problem) problem.split("\n").forEach(function (text) {
      results.appendChild(line("p", "error-text", text));
    });
    var list = answer.examples || [];
    if (!list.length) {
      if (!problem) results.appendChild(line("p", "hint", say("none")));
      return;
    }
    var table = document.createElement("table");
    table.className = "examples";
    table.appendChild(line("caption", "", say("results")));
    var head = table.createTHead().insertRow();
    [say("example"), say("expected"), say("actual"), say("outcome")].forEach(function (text) {
      var th = line("th", "", text); th.setAttribute("scope", "col"); head.appendChild(th);
    });
    var body = table.createTBody();
    list.forEach(function (r) {
      var row = body.insertRow();
      row.className = r.passed ? "pass" : "fail";
      cell(row, "th", say("example") + " " + (r.index + 1) + (r.note ? " " + r.note : ""));
      cell(row, "td", r.expected ? say("yes") : say("no"));
      cell(row, "td", r.actual ? say("yes") : say("no"));
      cell(row, "td", r.passed ? "✓ " + say("pass") : "✗ " + say("fail"), r.passed ? "ok-text" : "error-text");
    });
    results.appendChild(table);
  }

  function check() {
    var mine = ++sent;
    status.textContent = say("checking");
    window.hagukumi.post(form.getAttribute("data-check-url"), fields()).then(function (r) {
      if (mine !== sent) return;  // a newer check is on its way
      if (r.status !== 200) { status.textContent = say("failed"); return; }
      showRule(r.body);
      showExamples(r.body);
    }).catch(function () { if (mine === sent) status.textContent = say("failed"); });
  }

  function later() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, 400);
  }

  ["p-eligibility", "p-examples"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", later);
  });
  form.querySelectorAll("input[type=checkbox], input[type=radio], input[type=date], input[type=number]").forEach(function (el) {
    el.addEventListener("change", later);
  });
  check();
})();

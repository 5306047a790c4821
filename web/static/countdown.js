// The 30-minute countdowns of the work queues (web/templates/_queues.html).
//
// The server renders each deadline (<time data-deadline>) and the minutes left when it made the
// page, so the page reads right without this script; the script only keeps the minutes running.
// It counts on the server's clock, not the browser's: the page says what the server's "now" was
// (data-now), and the difference to the browser's clock is kept as an offset — a rehearsal server
// may run on another day, and a desk PC's clock may be minutes off.
(function () {
  "use strict";

  var labels = document.getElementById("countdown-labels");
  if (!labels) {
    return;
  }
  var serverNow = Date.parse(labels.dataset.now);
  var offset = isNaN(serverNow) ? 0 : serverNow - Date.now();

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function tick() {
    var now = Date.now() + offset;
    var clocks = document.querySelectorAll("time[data-deadline]");
    for (var i = 0; i < clocks.length; i++) {
      var el = clocks[i];
      var deadline = Date.parse(el.dataset.deadline);
      if (isNaN(deadline)) {
        continue;
      }
      var left = Math.floor((deadline - now) / 1000);
      var row = el.closest("tr");
      if (left > 0) {
        var seconds = left % 60;
        el.textContent = fill(labels.dataset.left, {
          minutes: Math.floor(left / 60), seconds: seconds < 10 ? "0" + seconds : seconds});
        el.classList.remove("bad");
      } else {
        el.textContent = fill(labels.dataset.overdue, {minutes: Math.floor(-left / 60)});
        el.classList.add("bad");
        if (row) {
          row.classList.add("overdue");
        }
      }
    }
  }

  tick();
  setInterval(tick, 1000);
}());

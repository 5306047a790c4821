// The live calls panel (/live): a WebSocket to /live/ws, rows per call, the screen pop.
//
// The message format is in docs/live-calls.md. Everything shown comes from the server's JSON and
// goes into the page through textContent and DOM calls, never innerHTML: a caller's display name
// is whatever the caller's phone sent.
//
// Connection: the socket is reopened by itself with a growing back-off, resuming from the last
// sequence number seen (`?since=…&epoch=…`); the server replays what was missed or sends a fresh
// snapshot. A gap in the numbers, a tick ahead of us, or a minute of silence also reconnects.
(function () {
  "use strict";

  var root = document.getElementById("live");
  if (!root) {
    return;
  }
  var L = JSON.parse(document.getElementById("live-labels").textContent);
  var english = (document.documentElement.lang || "").indexOf("en") === 0;

  var ENDED_KEEP_MS = 60000;     // an ended call stays this long, greyed
  var SILENCE_MS = 60000;        // the server ticks every 20 s: this much silence means a dead socket
  var BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];
  var OFFLINE_AFTER = 4;         // failed attempts before the panel says "offline"

  var statusEl = document.getElementById("live-status");
  var rowsEl = document.getElementById("live-rows");
  var countEl = document.getElementById("live-count");
  var emptyEl = document.getElementById("live-empty");

  var calls = new Map();         // call id -> {view, row, timer}
  var lastSeq = null;
  var epoch = null;
  var socket = null;
  var failures = 0;
  var opened = false;
  var retryTimer = null;
  var silenceTimer = null;
  var stopped = false;           // the session ended: no more reconnecting
  var lastOverrun = 0;           // when the server last closed us for being too slow (4001)

  // -- small helpers -------------------------------------------------------------------------

  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) {
      node.removeChild(node.firstChild);
    }
  }

  function issueLink(id, text) {
    var a = el("a", "", text);
    if (Number.isInteger(id)) {
      a.href = "/issues/" + id;
    }
    return a;
  }

  function localTime(iso) {
    if (!iso) {
      return "";
    }
    var d = new Date(iso);
    if (isNaN(d.getTime())) {
      return "";
    }
    try {  // the site's time, as on every other page, whatever the browser's zone
      return d.toLocaleTimeString(english ? "en-GB" : "zh-CN", {hour12: false, timeZone: root.dataset.timezone});
    } catch (e) {
      return d.toLocaleTimeString(english ? "en-GB" : "zh-CN", {hour12: false});
    }
  }

  function label(prefix, key) {
    var text = L[prefix + key];
    return text === undefined ? String(key) : text;
  }

  function who(name, id, target) {
    return name || id || target || "";
  }

  // -- the connection ------------------------------------------------------------------------

  function setStatus(state, seconds) {
    statusEl.dataset.state = state;
    clear(statusEl);
    if (state === "offline") {
      statusEl.textContent = fill(L.offline, {seconds: seconds});
    } else if (state === "logged-out") {
      statusEl.appendChild(document.createTextNode(L.logged_out + " "));
      var a = el("a", "", L.log_in);
      a.href = "/login?next=/live";
      statusEl.appendChild(a);
    } else {
      statusEl.textContent = L[state] || state;
    }
  }

  function socketUrl() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + root.dataset.socket;
    if (lastSeq !== null && epoch !== null) {
      url += "?since=" + encodeURIComponent(lastSeq) + "&epoch=" + encodeURIComponent(epoch);
    }
    return url;
  }

  function connect() {
    retryTimer = null;
    if (stopped) {
      return;
    }
    opened = false;
    var ws;
    try {
      ws = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onopen = function () {
      opened = true;
      failures = 0;
      setStatus("connected");
      armSilence();
    };
    ws.onmessage = function (event) {
      if (ws !== socket) {
        return;
      }
      armSilence();
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      onMessage(message);
    };
    ws.onclose = function (event) {
      if (ws !== socket) {
        return;
      }
      socket = null;
      clearTimeout(silenceTimer);
      if (event.code === 4401 || event.code === 4403) {
        stop();
        return;
      }
      if (!opened) {
        // The upgrade was refused or the server is down: a plain request tells which.
        probe();
        return;
      }
      // 4001: we were too slow. Resume at once, unless that happened a moment ago too;
      // anything else: after the usual back-off.
      var now = Date.now();
      var again = event.code === 4001 && now - lastOverrun > 10000;
      if (event.code === 4001) {
        lastOverrun = now;
      }
      scheduleReconnect(again ? 0 : undefined);
    };
  }

  function probe() {
    fetch(root.dataset.socket, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401 || r.status === 403) {
          stop();
        } else {
          scheduleReconnect();
        }
      }, function () {
        scheduleReconnect();
      });
  }

  function stop() {
    stopped = true;
    setStatus("logged-out");
  }

  function scheduleReconnect(delay) {
    if (stopped || retryTimer !== null) {
      return;
    }
    failures += 1;
    if (delay === undefined) {
      var base = BACKOFF_MS[Math.min(failures - 1, BACKOFF_MS.length - 1)];
      delay = base / 2 + Math.random() * base / 2;  // jitter: not every panel at once after a restart
    }
    if (failures > OFFLINE_AFTER || navigator.onLine === false) {
      setStatus("offline", Math.ceil(delay / 1000));
    } else {
      setStatus("reconnecting");
    }
    retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    // Resume from lastSeq on a new socket; the old one is dropped without waiting for it.
    var old = socket;
    socket = null;
    if (old) {
      old.onclose = null;
      try {
        old.close(4000, "resuming");
      } catch (e) { /* already closing */ }
    }
    clearTimeout(silenceTimer);
    scheduleReconnect(0);
  }

  function armSilence() {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(reconnectNow, SILENCE_MS);
  }

  window.addEventListener("online", function () {
    if (!socket && !stopped) {
      clearTimeout(retryTimer);
      retryTimer = null;
      failures = 0;
      connect();
    }
  });

  // -- messages ------------------------------------------------------------------------------

  function onMessage(m) {
    if (m.kind === "snapshot" && m.reason !== "resync") {
      // Opening snapshot: not sequenced itself, it accounts for everything up to m.seq.
      epoch = m.epoch;
      lastSeq = m.seq;
      replaceAll(m.calls || []);
      return;
    }
    if (m.kind === "resume") {
      if (m.epoch !== epoch || m.seq !== lastSeq) {
        lastSeq = null;
        reconnectNow();
      }
      return;
    }
    if (m.kind === "tick") {
      if (m.epoch !== epoch || m.seq > lastSeq) {
        reconnectNow();  // something was published that we did not get
      }
      return;
    }
    if (typeof m.seq !== "number") {
      return;
    }
    if (lastSeq !== null && m.seq <= lastSeq) {
      return;  // already seen
    }
    if (lastSeq !== null && m.seq !== lastSeq + 1) {
      reconnectNow();  // a gap: resume from what we have
      return;
    }
    lastSeq = m.seq;
    if (m.kind === "snapshot") {
      replaceAll(m.calls || []);
      return;
    }
    var entry = calls.get(m.call);
    var view = applyEvent(entry ? entry.view : null, m);
    if (view === null) {
      return;
    }
    show(view);
    if (m.kind === "call_arrived") {
      if (!outbound(view)) {
        offerPop(view);  // an outbound call (a call back, a survey) has nobody to pop up for
      }
    } else if (pop.call === view.call) {
      renderPop(view);
    }
  }

  // The rules of hotline/console/livefeed.py's fold(), kept in step with it.
  function applyEvent(view, m) {
    if (m.kind === "call_arrived") {
      return {
        call: m.call, issue: m.issue, issue_number: m.issue_number, started_at: m.at,
        caller: m.caller || "", caller_name: m.caller_name, employee_id: m.employee_id, flow: m.flow || "",
        direction: m.direction || "in", placed_by: m.placed_by || null, placed_by_name: m.placed_by_name || null,
        state: "arrived", ivr: [], route: null, target: null, person: null, person_name: null,
        outcome: null, answered_by: null, answered_by_name: null, voicemail_seconds: null,
        disposition: null, ended_at: null, seq: m.seq, pop: m.pop || null
      };
    }
    if (!view) {
      return null;
    }
    var v = Object.assign({}, view, {seq: m.seq});
    switch (m.kind) {
      case "ivr_choice":
        v.ivr = (view.ivr || []).concat([{node: m.node, digits: m.digits || "", choice: m.choice,
                                  label: m.label, label_en: m.label_en}]);
        if (v.state === "arrived" || v.state === "ivr") {
          v.state = "ivr";
        }
        break;
      case "routed":
        v.route = m.route;
        v.state = m.route === "voicemail" ? "voicemail" : "forwarding";
        break;
      case "ringing":
      case "answered":
      case "declined":
        v.state = "forwarding";
        v.target = m.target;
        v.person = m.person;
        v.person_name = m.person_name;
        v.outcome = m.kind === "ringing" ? null : (m.kind === "answered" ? "answered" : m.outcome);
        break;
      case "accepted":
        v.state = "answered";
        v.target = m.target;
        v.person = m.person;
        v.person_name = m.person_name;
        v.outcome = null;
        v.answered_by = m.person || m.target;
        v.answered_by_name = m.person_name;
        break;
      case "voicemail":
        v.state = "voicemail";
        v.voicemail_seconds = m.seconds;
        break;
      case "call_ended":
        v.state = "ended";
        v.disposition = m.disposition;
        v.ended_at = m.at;
        if (m.answered_by) {
          v.answered_by = m.answered_by;
          v.answered_by_name = m.answered_by_name || v.answered_by_name;
        }
        break;
      default:
        return null;
    }
    return v;
  }

  // -- rows ----------------------------------------------------------------------------------

  function replaceAll(views) {
    var keep = new Set();
    views.forEach(function (view) {
      keep.add(view.call);
      show(view);
    });
    calls.forEach(function (entry, id) {
      if (!keep.has(id) && entry.view.state !== "ended") {
        // It ended while we were away: we do not know how, so it goes now.
        removeCall(id);
      }
    });
    if (pop.call === null || !calls.has(pop.call)) {
      var newest = null;
      calls.forEach(function (entry) {
        if (entry.view.state !== "ended" && !outbound(entry.view) &&
            (newest === null || entry.view.call > newest.call)) {
          newest = entry.view;
        }
      });
      if (newest !== null) {
        offerPop(newest);
      }
    } else {
      renderPop(calls.get(pop.call).view);
    }
  }

  function show(view) {
    var entry = calls.get(view.call);
    if (!entry) {
      entry = {view: view, row: el("tr"), timer: null};
      entry.row.dataset.call = String(view.call);
      calls.set(view.call, entry);
      rowsEl.insertBefore(entry.row, rowsEl.firstChild);  // newest on top
    }
    entry.view = view;
    renderRow(entry.row, view);
    if (view.state === "ended" && entry.timer === null) {
      entry.timer = setTimeout(function () { removeCall(view.call); }, ENDED_KEEP_MS);
    }
    updateCount();
  }

  function removeCall(id) {
    var entry = calls.get(id);
    if (!entry) {
      return;
    }
    clearTimeout(entry.timer);
    if (entry.row.parentNode) {
      entry.row.parentNode.removeChild(entry.row);
    }
    calls.delete(id);
    updateCount();
  }

  function updateCount() {
    var active = 0;
    calls.forEach(function (entry) {
      if (entry.view.state !== "ended") {
        active += 1;
      }
    });
    countEl.textContent = String(active);
    emptyEl.hidden = calls.size > 0;
  }

  function outbound(view) {
    return view.direction === "out";
  }

  // An outbound call's row says so, and who placed it: a console user, or the survey caller.
  function directionText(view) {
    var placer = view.placed_by ? who(view.placed_by_name, view.placed_by, "") : label("flow_", view.flow);
    return L.outbound + (placer ? " · " + fill(L.placed_by, {who: placer}) : "");
  }

  function callerText(view) {
    var number = view.caller || L.withheld;
    return view.caller_name ? view.caller_name + " · " + number : number;
  }

  function details(view) {
    var box = el("span", "live-details");
    if (view.ivr && view.ivr.length) {
      var keys = el("span", "live-ivr");
      view.ivr.forEach(function (choice) {
        var meaning = (english ? choice.label_en : choice.label) || choice.label || choice.choice || "";
        var pressed = choice.digits ? fill(L.pressed, {digits: choice.digits}) : L.no_key;
        keys.appendChild(el("span", "live-key", pressed + " → " + meaning));
      });
      box.appendChild(keys);
    }
    var text = "";
    if (view.state === "forwarding" && (view.target || view.person)) {
      text = fill(L.to, {who: who(view.person_name, view.person, view.target)});
      if (view.outcome) {
        text += " (" + label("outcome_", view.outcome) + ")";
      }
    } else if (view.state === "answered" || (view.state === "ended" && view.answered_by)) {
      text = fill(L.by, {who: who(view.answered_by_name, view.answered_by, view.target)});
    } else if (view.state === "voicemail" && typeof view.voicemail_seconds === "number") {
      text = fill(L.seconds, {seconds: Math.round(view.voicemail_seconds)});
    }
    if (text) {
      box.appendChild(el("span", "live-who", text));
    }
    return box;
  }

  function stateText(view) {
    var text = label("state_", view.state);
    if (view.state === "ended" && view.disposition) {
      text += ": " + label("disposition_", view.disposition);
    }
    return text;
  }

  function renderRow(row, view) {
    row.className = "live-row state-" + view.state + (outbound(view) ? " live-outbound" : "");
    row.dataset.state = view.state;
    row.dataset.direction = outbound(view) ? "out" : "in";
    clear(row);
    row.appendChild(el("td", "live-time", localTime(view.started_at)));
    var callerCell = el("td", "live-caller", callerText(view));
    if (outbound(view)) {
      callerCell.insertBefore(el("span", "live-direction", directionText(view) + " → "), callerCell.firstChild);
    }
    row.appendChild(callerCell);
    var issueCell = el("td", "live-issue");
    if (view.issue_number) {
      issueCell.appendChild(issueLink(view.issue, view.issue_number));
    }
    row.appendChild(issueCell);
    row.appendChild(el("td", "live-state", stateText(view)));
    var detailCell = el("td");
    detailCell.appendChild(details(view));
    row.appendChild(detailCell);
  }

  // -- the screen pop ------------------------------------------------------------------------

  var popEl = document.getElementById("screen-pop");
  var form = document.getElementById("pop-form");
  var newerButton = document.getElementById("pop-newer");
  var resultEl = document.getElementById("pop-result");
  var pop = {call: null, issue: null, dirty: false, waiting: null};

  form.addEventListener("input", function () {
    pop.dirty = true;
  });

  newerButton.addEventListener("click", function () {
    if (pop.waiting !== null && calls.has(pop.waiting)) {
      openPop(calls.get(pop.waiting).view);
    }
  });

  function offerPop(view) {
    // The newest arriving call takes the panel, unless the operator is typing another call's record.
    if (pop.call !== null && pop.dirty && pop.call !== view.call) {
      pop.waiting = view.call;
      newerButton.textContent = fill(L.newer_call, {who: callerText(view)});
      newerButton.hidden = false;
      return;
    }
    openPop(view);
  }

  function openPop(view) {
    if (pop.call !== view.call) {
      form.reset();
      resultEl.textContent = "";
      pop.dirty = false;
    }
    pop.call = view.call;
    pop.issue = view.issue;
    pop.waiting = null;
    newerButton.hidden = true;
    renderPop(view);
    popEl.hidden = false;
  }

  function setText(id, value) {
    document.getElementById(id).textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function categoryName(id) {
    // The page's category choices name them in the user's language.
    var select = form.elements.namedItem("category");
    for (var i = 0; id && i < select.options.length; i += 1) {
      if (select.options[i].value === id) {
        return select.options[i].textContent;
      }
    }
    return id;
  }

  function issueList(id, issues) {
    var list = document.getElementById(id);
    clear(list);
    if (!issues || !issues.length) {
      list.appendChild(el("li", "hint", L.none));
      return;
    }
    issues.forEach(function (issue) {
      var item = el("li");
      item.appendChild(issueLink(issue.id, issue.number));
      var facts = [issue.status && label("status_", issue.status), categoryName(issue.category), issue.priority]
        .filter(Boolean).join(" · ");
      item.appendChild(el("span", "pop-issue-facts", " " + facts));
      if (issue.summary) {
        item.appendChild(el("span", "pop-issue-summary", " " + issue.summary));
      }
      list.appendChild(item);
    });
  }

  function renderPop(view) {
    var p = view.pop || {};
    var caller = p.caller || {};
    var name = caller.name || view.caller_name;
    setText("pop-title", (name || L.unknown_caller) + (view.issue_number ? " · " + view.issue_number : ""));
    setText("pop-state", stateText(view));
    setText("pop-name", name || L.unknown_caller);
    setText("pop-department", caller.department);
    setText("pop-location", caller.location);
    setText("pop-number", caller.number || view.caller || L.withheld);
    setText("pop-employee", caller.employee_id || view.employee_id);
    issueList("pop-open", p.open_issues);
    issueList("pop-recent", p.recent_issues);
    var link = document.getElementById("pop-issue-link");
    link.textContent = view.issue_number || "";
    if (Number.isInteger(view.issue)) {
      link.href = "/issues/" + view.issue;
      form.action = "/issues/" + view.issue + "/complete";
    }
    popEl.dataset.call = String(view.call);
    // The category the caller chose in the menu, until the operator picks one.
    if (!pop.dirty) {
      var select = form.elements.namedItem("category");
      (view.ivr || []).forEach(function (choice) {
        for (var i = 0; i < select.options.length; i += 1) {
          if (select.options[i].value === choice.choice) {
            select.value = choice.choice;
          }
        }
      });
    }
  }

  // The record page's forms carry the version of the issue they complete (v_status, v_updated):
  // it is read just before posting, since the IVR sets the category after the call arrived. A
  // record that is no longer new was completed by someone else meanwhile: we do not overwrite it.
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!Number.isInteger(pop.issue)) {
      return;
    }
    var issue = pop.issue;
    var number = calls.has(pop.call) ? calls.get(pop.call).view.issue_number : "";
    var body = new URLSearchParams(new FormData(form));
    resultEl.textContent = L.saving;
    fetch("/live/issues/" + issue, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) {
          throw r;
        }
        return r.json();
      })
      .then(function (version) {
        if (version.status !== "new") {
          clear(resultEl);
          resultEl.appendChild(issueLink(issue, L.not_new));
          return null;
        }
        body.set("v_status", version.status);
        body.set("v_updated", version.updated_at);
        return fetch("/issues/" + issue + "/complete", {
          method: "POST", body: body, credentials: "same-origin", redirect: "manual",
          headers: {"Accept": "text/html"}
        });
      })
      .then(function (r) {
        if (r === null) {
          return;
        }
        if (r.ok || r.type === "opaqueredirect") {
          pop.dirty = false;
          if (pop.waiting !== null && calls.has(pop.waiting)) {
            openPop(calls.get(pop.waiting).view);  // the call that waited while the operator typed
          }
          resultEl.textContent = fill(L.saved, {number: number});
        } else {
          throw r;
        }
      })
      .catch(function (failure) {
        clear(resultEl);
        if (failure && typeof failure.status === "number") {
          resultEl.appendChild(issueLink(issue, fill(L.save_failed, {status: failure.status})));
        } else {
          resultEl.textContent = L.save_offline;
        }
      });
  });

  setStatus("connecting");
  connect();
}());

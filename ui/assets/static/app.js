// trustsync: live updates. The server says, by server-sent events, which
// parts of the page changed; this script fetches the page again and swaps
// in those parts, leaving alone any part where something is being typed.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var note = document.getElementById("live-note");
  var pending = null; // the parts changed since the last refresh

  function say(text) {
    if (note) {
      note.textContent = text;
    }
  }

  // dirty reports whether a field in el holds typing not yet sent.
  function dirty(el) {
    var fields = el.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type === "hidden" || f.readOnly) {
        continue;
      }
      if (f.type === "checkbox" || f.type === "radio") {
        if (f.checked !== f.defaultChecked) {
          return true;
        }
      } else if (f.tagName === "SELECT") {
        for (var j = 0; j < f.options.length; j++) {
          if (f.options[j].selected !== f.options[j].defaultSelected) {
            return true;
          }
        }
      } else if (f.value !== f.defaultValue) {
        return true;
      }
    }
    return false;
  }

  // openDetails names each open <details> in el by the id of the nearest
  // element around it that has one and its place among that element's
  // <details>, so that a fresh copy of el can be opened the same way.
  // (The id attribute: a form's "id" property is its field named id.)
  function openDetails(el) {
    var keys = [];
    var open = el.querySelectorAll("details[open]");
    for (var i = 0; i < open.length; i++) {
      var host = open[i].parentElement.closest("[id]");
      if (host) {
        keys.push({ id: host.getAttribute("id"), at: Array.prototype.indexOf.call(host.querySelectorAll("details"), open[i]) });
      }
    }
    return keys;
  }

  function reopen(root, keys) {
    for (var i = 0; i < keys.length; i++) {
      var host = root.getAttribute("id") === keys[i].id ? root : root.querySelector('[id="' + keys[i].id.replace(/["\\]/g, "\\$&") + '"]');
      var d = host && host.querySelectorAll("details")[keys[i].at];
      if (d) {
        d.open = true;
      }
    }
  }

  function refresh(parts) {
    var all = parts.indexOf("all") >= 0;
    var live = document.querySelectorAll("[data-part]");
    var wanted = [];
    for (var i = 0; i < live.length; i++) {
      if (all || parts.indexOf(live[i].getAttribute("data-part")) >= 0) {
        wanted.push(live[i]);
      }
    }
    if (!all && wanted.length === 0) {
      return;
    }
    // The page's own address: after a refused form the browser shows the
    // page at the form's address, which answers only a POST.
    var path = document.body.getAttribute("data-path") || window.location.pathname;
    fetch(path, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.text().then(function (t) { return { ok: r.ok, text: t }; }); })
      .then(function (res) {
        if (!res.ok) {
          return; // this address answers only a form (a refused one is shown): nothing to refresh
        }
        var doc = new DOMParser().parseFromString(res.text, "text/html");
        if (all && document.body.getAttribute("data-page") !== (doc.body && doc.body.getAttribute("data-page"))) {
          window.location.assign(path); // locked or unlocked meanwhile
          return;
        }
        var held = false, changed = false;
        for (var i = 0; i < wanted.length; i++) {
          var old = wanted[i];
          var fresh = doc.getElementById(old.id);
          if (!fresh) {
            continue;
          }
          // What the person opened stays open.
          fresh = document.importNode(fresh, true);
          reopen(fresh, openDetails(old));
          if (fresh.innerHTML === old.innerHTML) {
            continue;
          }
          changed = true;
          if (dirty(old)) {
            held = true;
            continue;
          }
          var focused = document.activeElement && old.contains(document.activeElement) ? document.activeElement.id : "";
          old.replaceWith(fresh);
          if (focused) {
            var again = document.getElementById(focused);
            if (again) {
              again.focus();
            }
          }
        }
        if (held) {
          say("Your partner changed something here. Send or clear what you are typing, then reload to see it.");
        } else if (changed) {
          say("Updated with the latest changes.");
        }
      })
      .catch(function () { say("Could not fetch the latest changes: reload the page."); });
  }

  var es = new EventSource("/events");
  // A change made while this page was on its way, or while the stream
  // was down, sent no event here: look once each time the stream opens.
  es.addEventListener("open", function () { refresh(["all"]); });
  es.addEventListener("change", function (ev) {
    var parts = String(ev.data || "").split(" ");
    if (pending) {
      pending = pending.concat(parts);
      return;
    }
    pending = parts;
    // Changes come in bursts while a sync applies them: wait a moment.
    setTimeout(function () { var p = pending; pending = null; refresh(p); }, 250);
  });
})();

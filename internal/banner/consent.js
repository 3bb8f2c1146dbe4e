(function (cfg) {
  "use strict";
  var d = document, w = window, KEY = "steward_consent", AKEY = "steward_anonymous_id";
  var me = d.currentScript;
  var writeKey = me && me.getAttribute("data-key");
  var host = me && me.src ? new URL(me.src).origin : "";
  var lang = ((me && me.getAttribute("data-lang")) || d.documentElement.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  var t = cfg.text[lang] || cfg.text.en;
  var gpc = navigator.globalPrivacyControl === true;
  var listeners = [];
  var state = read();

  function read() {
    try { return JSON.parse(localStorage.getItem(KEY)); } catch (e) { return null; }
  }
  function write(s) {
    try { localStorage.setItem(KEY, JSON.stringify(s)); } catch (e) { /* private mode: ask again next time */ }
  }
  // The visitor's anonymous id: analytics.js's when the page runs it, so the choice and the
  // events join one visitor; else one of our own, kept like analytics.js keeps its.
  function anonymousId() {
    try {
      var a = localStorage.getItem("ajs_anonymous_id");
      if (a) return JSON.parse(a);
    } catch (e) { /* not JSON: fall through */ }
    var m = d.cookie.match(/(?:^|; )ajs_anonymous_id=([^;]*)/);
    if (m) return decodeURIComponent(m[1]).replace(/^"|"$/g, "");
    var id = null;
    try { id = localStorage.getItem(AKEY); } catch (e) { /* none */ }
    if (!id) {
      id = w.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
      try { localStorage.setItem(AKEY, id); } catch (e) { /* none */ }
    }
    return id;
  }
  // A choice is asked for again when the policy in force changed what a category covers.
  function decided() {
    return !!(state && state.choices && state.seq >= cfg.askAfter);
  }
  function choices() {
    var out = {};
    cfg.categories.forEach(function (c) {
      out[c.name] = !!(decided() && state.choices[c.name]) && !(gpc && c.gpc);
    });
    return out;
  }
  function send(ch) {
    if (!writeKey || !host) return;
    var msg = {
      type: "track", event: "Consent Updated", anonymousId: anonymousId(), writeKey: writeKey,
      messageId: "consent-" + Date.now() + "-" + Math.random().toString(16).slice(2),
      timestamp: new Date().toISOString(), properties: {},
      context: { consent: { categoryPreferences: ch }, page: { path: location.pathname, url: location.origin + location.pathname } }
    };
    try {
      fetch(host + "/v1/t", { method: "POST", body: JSON.stringify(msg), headers: { "Content-Type": "text/plain" }, keepalive: true, credentials: "omit", mode: "cors" });
    } catch (e) { /* offline: the choice is kept and applied here */ }
  }
  function apply(ch) {
    state = { choices: ch, seq: cfg.policySeq, policy: cfg.policy, at: new Date().toISOString() };
    write(state);
    send(choices());
    close();
    enableTags();
    listeners.forEach(function (f) { try { f(choices()); } catch (e) { /* a listener's own problem */ } });
  }
  function all(v) {
    var ch = {};
    cfg.categories.forEach(function (c) { ch[c.name] = v && !(gpc && c.gpc); });
    return ch;
  }
  // Scripts a page marks <script type="text/plain" data-steward-category="Advertising"> run
  // only once their category is allowed.
  function enableTags() {
    var ch = choices();
    d.querySelectorAll('script[type="text/plain"][data-steward-category]').forEach(function (s) {
      if (!ch[s.getAttribute("data-steward-category")]) return;
      var n = d.createElement("script");
      for (var i = 0; i < s.attributes.length; i++) {
        var a = s.attributes[i];
        if (a.name !== "type") n.setAttribute(a.name, a.value);
      }
      n.text = s.text;
      s.parentNode.replaceChild(n, s);
    });
  }

  var root = null;
  function el(tag, attrs, text) {
    var e = d.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text) e.textContent = text;
    return e;
  }
  function button(label, onClick, id) {
    var b = el("button", { type: "button", id: id, "class": "stw-btn" }, label);
    b.addEventListener("click", onClick);
    return b;
  }
  function close() {
    if (root) { root.parentNode.removeChild(root); root = null; }
  }
  function open() {
    close();
    if (!d.getElementById("stw-style")) {
      var st = el("style", { id: "stw-style" });
      st.textContent = ".stw-banner{position:fixed;left:0;right:0;bottom:0;z-index:2147483000;background:#fff;color:#1a1a1a;border-top:2px solid #1a1a1a;padding:1rem 1.25rem;font:1rem/1.5 system-ui,sans-serif;box-shadow:0 -2px 12px rgba(0,0,0,.2)}" +
        ".stw-banner h2{font-size:1.15rem;margin:0 0 .4rem}.stw-banner p{margin:.3rem 0}.stw-banner a{color:#0b57d0}" +
        ".stw-row{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:.6rem}.stw-btn{font:inherit;font-weight:600;padding:.6rem 1.2rem;border:2px solid #1a1a1a;border-radius:.3rem;background:#fff;color:#1a1a1a;cursor:pointer}" +
        ".stw-btn:focus,.stw-banner a:focus,.stw-banner input:focus{outline:3px solid #0b57d0;outline-offset:2px}.stw-cat{display:flex;gap:.6rem;align-items:flex-start;margin:.4rem 0}.stw-cat input{width:1.2rem;height:1.2rem;margin-top:.2rem}";
      d.head.appendChild(st);
    }
    root = el("section", { "class": "stw-banner", "aria-labelledby": "stw-title", lang: cfg.text[lang] ? lang : "en" });
    var h = el("h2", { id: "stw-title", tabindex: "-1" }, t.title);
    root.appendChild(h);
    root.appendChild(el("p", {}, t.body));
    if (gpc && cfg.categories.some(function (c) { return c.gpc; })) root.appendChild(el("p", {}, t.gpc));
    var p = el("p");
    p.appendChild(el("a", { href: host + "/privacy" }, t.privacy));
    root.appendChild(p);
    var row = el("div", { "class": "stw-row" });
    row.appendChild(button(t.accept, function () { apply(all(true)); }, "stw-accept"));
    row.appendChild(button(t.reject, function () { apply(all(false)); }, "stw-reject"));
    row.appendChild(button(t.customise, customise, "stw-customise"));
    root.appendChild(row);
    d.body.appendChild(root);
    h.focus();
  }
  function customise() {
    var fs = el("fieldset", { id: "stw-choices" });
    fs.appendChild(el("legend", {}, t.customise));
    var current = choices();
    cfg.categories.forEach(function (c) {
      var box = el("div", { "class": "stw-cat" });
      var id = "stw-c-" + c.name;
      var input = el("input", { type: "checkbox", id: id, name: c.name });
      input.checked = !!current[c.name];
      if (gpc && c.gpc) { input.checked = false; input.disabled = true; }
      var label = el("label", { "for": id });
      label.appendChild(el("strong", {}, (c.label[lang] || c.label.en) + ": "));
      label.appendChild(d.createTextNode(c.description));
      box.appendChild(input);
      box.appendChild(label);
      fs.appendChild(box);
    });
    var row = el("div", { "class": "stw-row" });
    row.appendChild(button(t.save, function () {
      var ch = {};
      cfg.categories.forEach(function (c) { ch[c.name] = d.getElementById("stw-c-" + c.name).checked; });
      apply(ch);
    }, "stw-save"));
    fs.appendChild(row);
    var old = d.getElementById("stw-choices");
    if (old) old.parentNode.removeChild(old);
    root.appendChild(fs);
    fs.querySelector("input:not([disabled])") ? fs.querySelector("input:not([disabled])").focus() : d.getElementById("stw-save").focus();
  }

  // The choices go with every analytics.js event as Segment's consent context.
  function middleware(ctx) {
    var o = ctx.payload.obj;
    o.context = o.context || {};
    o.context.consent = { categoryPreferences: choices() };
    ctx.next(ctx.payload);
  }
  w.stewardConsent = {
    get: choices, open: open, decided: decided, middleware: middleware,
    onChange: function (f) { listeners.push(f); }
  };
  if (w.analytics && typeof w.analytics.addSourceMiddleware === "function") w.analytics.addSourceMiddleware(middleware);
  function start() {
    if (decided()) { enableTags(); return; }
    if (gpc && cfg.categories.every(function (c) { return c.gpc; })) { apply(all(false)); return; }
    open();
  }
  if (d.readyState === "loading") d.addEventListener("DOMContentLoaded", start); else start();
})

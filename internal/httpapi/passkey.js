// Passkeys in the Steward console: the browser's WebAuthn API between two calls to this
// server. Buttons with data-passkey="enrol" add a passkey; data-passkey="check" proves who
// the person is with one (the second factor of a sign-in, or a re-authentication before a
// reveal); data-passkey="sign-in" signs in with a passkey alone. The session's form token,
// where there is a session, goes in the Steward-CSRF header.
(function () {
  "use strict";
  function enc(buf) {
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function dec(str) {
    const s = atob(str.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out.buffer;
  }
  function token() {
    const el = document.querySelector("input[name=csrf]");
    return el ? el.value : "";
  }
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Steward-CSRF": token() },
      body: body === undefined ? "" : JSON.stringify(body),
    });
    if (!r.ok) {
      let detail = "The server refused (" + r.status + ").";
      try { detail = (await r.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return r.json();
  }
  function status(msg) {
    const el = document.getElementById("passkey-status");
    if (el) el.textContent = msg;
  }
  async function enrol() {
    const opts = await post("/console/passkeys/begin");
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    const nameEl = document.getElementById("passkey-name");
    const res = await post("/console/passkeys?name=" + encodeURIComponent(nameEl ? nameEl.value : ""), {
      id: cred.id, rawId: enc(cred.rawId), type: cred.type,
      response: {
        attestationObject: enc(cred.response.attestationObject),
        clientDataJSON: enc(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : [],
      },
      clientExtensionResults: cred.getClientExtensionResults(),
    });
    location.assign(res.next);
  }
  async function check(btn, begin, finish) {
    const opts = await post(begin);
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = dec(c.id); });
    const a = await navigator.credentials.get({ publicKey: pk });
    const res = await post(finish + "?next=" + encodeURIComponent(btn.dataset.next || "/console"), {
      id: a.id, rawId: enc(a.rawId), type: a.type,
      response: {
        authenticatorData: enc(a.response.authenticatorData),
        clientDataJSON: enc(a.response.clientDataJSON),
        signature: enc(a.response.signature),
        userHandle: a.response.userHandle ? enc(a.response.userHandle) : null,
      },
      clientExtensionResults: a.getClientExtensionResults(),
    });
    location.assign(res.next);
  }
  document.querySelectorAll("[data-passkey]").forEach(function (btn) {
    btn.addEventListener("click", function (ev) {
      ev.preventDefault();
      status("Waiting for your passkey…");
      const mode = btn.dataset.passkey;
      (mode === "enrol" ? enrol()
        : mode === "sign-in" ? check(btn, "/console/passkey/sign-in/begin", "/console/passkey/sign-in")
        : check(btn, "/console/passkey/begin", "/console/passkey/finish")).catch(function (e) { status(e.message); });
    });
  });
})();

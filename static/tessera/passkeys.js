// Passkeys (WebAuthn) for Tessera's pages: sign-in by button and by the browser's autofill
// (conditional mediation), the MFA step, and registration. Configuration comes from the
// element carrying data-passkey-config; no inline script (the pages' CSP allows none). What
// it says comes from that element's data-say-* too, in the page's language; the server's
// refusals arrive translated (their "detail"), and a browser's own error text is never shown.
(() => {
  "use strict";
  const config = document.querySelector("[data-passkey-config]");
  if (!config || !window.PublicKeyCredential) {
    document.querySelectorAll("[data-passkey-login], [data-passkey-register]").forEach((b) => { b.hidden = true; });
    return;
  }
  const cfg = config.dataset;
  const status = document.querySelector("[data-passkey-status]");
  const say = (text) => { if (status) { status.textContent = text; } };
  const explain = (error) => (error.name === "NotAllowedError" ? cfg.sayCancelled
    : error.name === "InvalidStateError" ? cfg.sayDuplicate
      : error.fromServer ? error.message : cfg.sayRefused);

  const toBuffer = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "=");
    return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const withNext = (url) => {
    if (!cfg.next) { return url; }
    const u = new URL(url, window.location.origin);
    u.searchParams.set("next", cfg.next);
    return u.toString();
  };
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": cfg.csrf },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const refused = new Error(data.detail || cfg.sayRefused);
      refused.fromServer = true;
      throw refused;
    }
    return data;
  }
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: toBuffer(c.id) }));

  function assertion(credential) {
    const r = credential.response;
    return {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData),
        signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : undefined,
      },
    };
  }

  function attestation(credential) {
    const r = credential.response;
    return {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: toText(r.clientDataJSON), attestationObject: toText(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      },
    };
  }

  let autofill = null; // the pending conditional request, aborted when the button is used

  async function signIn(mediation) {
    const options = await post(cfg.beginAuth);
    const publicKey = { ...options, challenge: toBuffer(options.challenge),
                        allowCredentials: descriptors(options.allowCredentials) };
    const request = { publicKey };
    if (mediation === "conditional") {
      autofill = new AbortController();
      request.mediation = "conditional";
      request.signal = autofill.signal;
    }
    const credential = await navigator.credentials.get(request);
    say(cfg.sayChecking);
    const done = await post(withNext(cfg.completeAuth), assertion(credential));
    window.location.assign(done.redirect_url || cfg.next || window.location.href);
  }

  document.querySelectorAll("[data-passkey-login]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async () => {
      if (autofill) { autofill.abort(); autofill = null; }
      button.disabled = true;
      say(cfg.sayWaiting);
      try { await signIn("modal"); } catch (error) {
        say(explain(error));
        button.disabled = false;
      }
    });
  });

  const field = document.querySelector("input[autocomplete$='webauthn']");
  if (field && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (!available) { return; }
      signIn("conditional").catch((error) => {
        if (error.name !== "AbortError") { say(explain(error)); }
      });
    });
  }

  document.querySelectorAll("[data-passkey-register]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const name = document.querySelector("input[name='passkey_name']");
      button.disabled = true;
      say(cfg.sayCreating);
      try {
        const options = await post(cfg.beginRegister, { passkey_name: name ? name.value : "" });
        const publicKey = { ...options, challenge: toBuffer(options.challenge),
                            user: { ...options.user, id: toBuffer(options.user.id) },
                            excludeCredentials: descriptors(options.excludeCredentials) };
        const credential = await navigator.credentials.create({ publicKey });
        const done = await post(withNext(cfg.completeRegister), attestation(credential));
        say(cfg.saySaved);
        window.location.assign(done.redirect_url || window.location.href);
      } catch (error) {
        say(explain(error));
        button.disabled = false;
      }
    });
  });
})();

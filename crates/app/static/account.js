// Signing in: passkeys first (WebAuthn: the browser's options arrive base64url-encoded
// from the server and the authenticator's answer goes back the same way), an email and
// password as the fallback. Each way resolves to the fan as the page keeps them:
// {id, name, access_token, session_id}.
import { call, b64u } from "./api.js";

/** Whether this browser can use passkeys at all. */
export const passkeysSupported = () =>
  typeof window.PublicKeyCredential === "function" && !!navigator.credentials;

const fan = (d) => ({ id: d.id ?? d.user_id, name: d.name, access_token: d.access_token, session_id: d.session_id });

/** A new account named `name` with a passkey made on this device. */
export async function passkeySignUp(name) {
  const { data: start } = await call("POST", "/passkeys/registrations", { body: { name } });
  const pk = start.options.publicKey;
  pk.challenge = b64u.decode(pk.challenge);
  pk.user.id = b64u.decode(pk.user.id);
  for (const c of pk.excludeCredentials || []) c.id = b64u.decode(c.id);
  const cred = await navigator.credentials.create({ publicKey: pk });
  const body = {
    id: cred.id, rawId: b64u.encode(cred.rawId), type: cred.type, extensions: {},
    response: {
      attestationObject: b64u.encode(cred.response.attestationObject),
      clientDataJSON: b64u.encode(cred.response.clientDataJSON),
    },
  };
  const { data } = await call("POST", `/passkeys/registrations/${start.ceremony}`, { body });
  return fan(data);
}

/** Signs in with a passkey the authenticator offers for this site. */
export async function passkeySignIn() {
  const { data: start } = await call("POST", "/passkeys/authentications");
  const pk = start.options.publicKey;
  pk.challenge = b64u.decode(pk.challenge);
  for (const c of pk.allowCredentials || []) c.id = b64u.decode(c.id);
  const cred = await navigator.credentials.get({ publicKey: pk });
  const r = cred.response;
  const body = {
    id: cred.id, rawId: b64u.encode(cred.rawId), type: cred.type, extensions: {},
    response: {
      authenticatorData: b64u.encode(r.authenticatorData),
      clientDataJSON: b64u.encode(r.clientDataJSON),
      signature: b64u.encode(r.signature),
      userHandle: r.userHandle ? b64u.encode(r.userHandle) : null,
    },
  };
  const { data } = await call("POST", `/passkeys/authentications/${start.ceremony}`, { body });
  return fan(data);
}

/** Signs in with an email and password. */
export async function passwordSignIn(email, password) {
  const { data } = await call("POST", "/sessions", { body: { email, password } });
  return fan(data);
}

/** A new account with an email and password. */
export async function passwordSignUp(name, email, password) {
  const { data } = await call("POST", "/users", { body: { name, email, password } });
  return fan(data);
}

/** Ends the fan's session on the server (its token is refused from now on). */
export async function endSession(user) {
  if (!user || !user.session_id) return;
  try {
    await call("DELETE", `/sessions/${user.session_id}`, { headers: { Authorization: "Bearer " + user.access_token } });
  } catch { /* signed out here all the same */ }
}

// The console's only way to the API: the key from sessionStorage goes in the Authorization header
// (never in a URL), and every error answer becomes an ApiError with the API's code and message.

const STORAGE = 'wess.key';
const KEY_SHAPE = /^wess_([0-9a-z]{4,32})_[A-Za-z0-9_-]{20,}$/;

/** An error answer of the API (or a network failure: status 0). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The key id of a well-formed key, else null: the id is public, the part after it secret. */
export function keyId(key) {
  return KEY_SHAPE.exec(key)?.[1] ?? null;
}

export function storedKey() {
  return sessionStorage.getItem(STORAGE);
}

export function storeKey(key) {
  sessionStorage.setItem(STORAGE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(STORAGE);
}

let onUnauthorized = () => {};
/** What to do when the API refuses the stored key (revoked since sign-in): sign out, saying why. */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** Headers with the key, for requests made elsewhere (the event stream). */
export function authHeaders(key = storedKey()) {
  return { authorization: `Bearer ${key}` };
}

/**
 * A request to the API as the signed-in key (or `options.key`): the parsed JSON answer, null for 204.
 * `options.body` is sent as JSON unless it is a Blob (a module upload), sent as is.
 */
export async function api(path, options = {}) {
  const { method = 'GET', body, headers = {}, key } = options;
  const init = { method, headers: { ...authHeaders(key ?? storedKey()), ...headers }, cache: 'no-store' };
  if (body instanceof Blob) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK', `Wess did not answer (${err.message}). Is the server running?`);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const error = json && json.error ? json.error : { code: `HTTP_${res.status}`, message: text.slice(0, 200) || res.statusText };
    const failure = new ApiError(res.status, error.code, error.message);
    failure.details = error.details;
    if (res.status === 401 && key === undefined) onUnauthorized(failure);
    throw failure;
  }
  return json;
}

/**
 * Who a key is, from what the API tells a key about itself: its usage answer (every role may read
 * its own) names its tenant, tier and limits; the key list (admins and developers; 403 for runners
 * and keys narrowed to named modules) names its role.
 */
export async function whoIs(key) {
  const id = keyId(key);
  const usage = await api(`/keys/${id}/usage`, { key });
  // Until the key list says otherwise: a key that may not list keys is a runner, or a key of any role
  // narrowed to named modules (the API tells such a key nothing more about itself).
  const who = { id, tenant: usage.storage.tenant, tier: usage.tier, limits: usage.limits, role: 'runner', roleKnown: false, modules: null, managesKeys: false };
  try {
    let cursor = null;
    for (let page = 0; page < 50; page += 1) {
      const list = await api(`/keys?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { key });
      const self = list.items.find((item) => item.id === id);
      if (self) {
        Object.assign(who, { role: self.role, roleKnown: true, modules: self.modules, name: self.name, managesKeys: true });
        break;
      }
      if (!list.next_cursor) break;
      cursor = list.next_cursor;
    }
  } catch (err) {
    if (err.status !== 403) throw err;
  }
  return who;
}

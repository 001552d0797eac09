// Access to letterbox's JSON API (Mailpit's API v1 and letterbox's extensions).
// Paths are relative to the page so the inbox also works under a path prefix.

/** ApiError is a failed request, with the HTTP status. */
export class ApiError extends Error {
  constructor(status, text) {
    super(text ? `${status}: ${text}` : `HTTP ${status}`);
    this.status = status;
  }
}

async function request(method, path, body, { signal, as = 'json' } = {}) {
  const init = { method, signal, headers: { Accept: as === 'json' ? 'application/json' : '*/*' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    let text = '';
    try { text = (await res.text()).slice(0, 300); } catch { /* ignore */ }
    throw new ApiError(res.status, text.trim());
  }
  if (as === 'text') return res.text();
  if (as === 'none') return null;
  const ct = res.headers.get('Content-Type') || '';
  return ct.includes('json') ? res.json() : res.text();
}

const enc = encodeURIComponent;

/** Paths of resources the page links to. */
export const paths = {
  raw: (id, dl) => `api/v1/message/${enc(id)}/raw${dl ? '?dl=1' : ''}`,
  part: (id, part) => `api/v1/message/${enc(id)}/part/${enc(part)}`,
  view: (id, remote) => `view/${enc(id)}.html${remote ? '?remote=1' : ''}`,
  events: () => {
    const u = new URL('api/events', document.baseURI);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  },
};

/** list returns a page of messages, newest first; with a query, a page of matches. */
export function list({ query = '', start = 0, limit = 50, signal } = {}) {
  const p = new URLSearchParams({ start: String(start), limit: String(limit) });
  if (query) {
    p.set('query', query);
    return request('GET', `api/v1/search?${p}`, undefined, { signal });
  }
  return request('GET', `api/v1/messages?${p}`, undefined, { signal });
}

/** message returns a whole message; the server marks it read. */
export const message = (id, signal) => request('GET', `api/v1/message/${enc(id)}`, undefined, { signal });

/** headers returns {Name: [values]} for a message. */
export const headers = (id) => request('GET', `api/v1/message/${enc(id)}/headers`);

/** raw returns the source of a message as text. */
export const raw = (id) => request('GET', paths.raw(id), undefined, { as: 'text' });

/** setRead marks messages read or unread; no ids with a query marks the matches; neither marks all. */
export function setRead(ids, read, query = '') {
  const body = { Read: read };
  if (ids && ids.length) body.IDs = ids;
  else if (query) body.Search = query;
  return request('PUT', 'api/v1/messages', body, { as: 'none' });
}

/** remove deletes messages by ID. */
export const remove = (ids) => request('DELETE', 'api/v1/messages', { IDs: ids }, { as: 'none' });

/** removeAll deletes every message. */
export const removeAll = () => request('DELETE', 'api/v1/messages', undefined, { as: 'none' });

/** removeMatching deletes the messages matching a search. */
export const removeMatching = (query) =>
  request('DELETE', `api/v1/search?${new URLSearchParams({ query })}`, undefined, { as: 'none' });

/** webui returns the UI configuration, or {} when the server has none. */
export async function webui() {
  try { return (await request('GET', 'api/v1/webui')) || {}; } catch { return {}; }
}

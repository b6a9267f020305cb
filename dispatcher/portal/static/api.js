// The Azure Batch REST client of the portal: every request carries
// api-version and a SharedKey signature made in the browser.
import { decodeKey, newSigner, stringToSign } from './sign.js';

/** API_VERSION is the api-version the official SDK sends. */
export const API_VERSION = '2022-10-01.16.0';

/** CONTENT_TYPE is the Content-Type the SDK sends (and signs) on every request. */
export const CONTENT_TYPE = 'application/json; odata=minimalmetadata; charset=utf-8';

/** PAGE is the maxresults of a list page. */
export const PAGE = 100;

/** ApiError is a failed call: Azure's error code, message and detail values. */
export class ApiError extends Error {
  constructor(status, code, message, values = [], requestId = '') {
    super(message);
    this.status = status;
    this.code = code;
    this.values = values;
    this.requestId = requestId;
  }
}

/**
 * path builds a request path from a template, percent-encoding every
 * interpolated value as one path segment: path`/jobs/${id}/tasks`.
 */
export function path(strings, ...values) {
  let s = strings[0];
  values.forEach((v, i) => {
    s += encodeURIComponent(String(v)) + strings[i + 1];
  });
  return s;
}

/** Client calls one account's REST API. */
export class Client {
  /**
   * @param {{account: string, key: string, url: string}} session
   * Throws if the key is not base64.
   */
  constructor({ account, key, url }) {
    this.account = account;
    this.base = url.replace(/\/+$/, '');
    this.sign = newSigner(decodeKey(key));
  }

  /** url returns the absolute URL of an API path with its query and api-version. */
  url(p, query = {}) {
    const u = new URL(this.base + p);
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v));
    }
    u.searchParams.set('api-version', API_VERSION);
    return u;
  }

  /**
   * send makes a signed request. opts: query (object), body (JSON-encoded),
   * headers (lower-case names), as ('json' | 'response'). It resolves to
   * the decoded JSON (null when empty) or, for 'response', the Response.
   * A failed call rejects with an ApiError.
   */
  async send(method, p, opts = {}) {
    const u = opts.url ?? this.url(p, opts.query);
    const bytes = opts.body === undefined ? null : new TextEncoder().encode(JSON.stringify(opts.body));
    const headers = {
      'ocp-date': new Date().toUTCString(),
      'content-type': CONTENT_TYPE,
      ...(opts.headers ?? {}),
    };
    const hasBodyVerb = method === 'POST' || method === 'PUT' || method === 'PATCH';
    // Content-Length is signed; the browser sets the header itself.
    const signed = { ...headers, 'content-length': bytes ? String(bytes.length) : hasBodyVerb ? '0' : '' };
    const sig = await this.sign(stringToSign(method, signed, this.account, u.pathname, u.search));
    headers.authorization = `SharedKey ${this.account}:${sig}`;
    let resp;
    try {
      // no-store: the browser must not add If-None-Match / If-Modified-Since,
      // which are signed headers, behind our back.
      resp = await fetch(u, {
        method, headers, body: bytes, cache: 'no-store', credentials: 'omit', redirect: 'error',
      });
    } catch (e) {
      const hint = u.origin !== location.origin
        ? ' (the portal may call only the origin it is served from: its Content-Security-Policy says so, and natch serves no CORS)'
        : '';
      throw new ApiError(0, 'NetworkError', `Could not reach ${u.origin}: ${e.message}${hint}`);
    }
    if (!resp.ok) {
      throw await toApiError(resp);
    }
    if (opts.as === 'response') return resp;
    const text = await resp.text();
    return text === '' ? null : JSON.parse(text);
  }

  /** get reads a JSON resource. */
  get(p, query) {
    return this.send('GET', p, { query });
  }

  /** post sends a JSON body (none when body is undefined). */
  post(p, body) {
    return this.send('POST', p, { body });
  }

  /** del deletes a resource. */
  del(p) {
    return this.send('DELETE', p);
  }

  /**
   * list reads `pages` pages of a list (following odata.nextLink) and
   * resolves to {items, next}: next is the nextLink of the last page read
   * ('' at the end).
   */
  async list(p, query = {}, pages = 1) {
    let items = [];
    let next = '';
    let url = this.url(p, { maxresults: PAGE, ...query });
    for (let i = 0; i < pages; i++) {
      const r = await this.send('GET', '', { url });
      items = items.concat(r?.value ?? []);
      next = r?.['odata.nextLink'] ?? '';
      if (!next) break;
      url = this.nextURL(next);
    }
    return { items, next };
  }

  /** more reads the page a nextLink names, as list does. */
  async more(next) {
    const r = await this.send('GET', '', { url: this.nextURL(next) });
    return { items: r?.value ?? [], next: r?.['odata.nextLink'] ?? '' };
  }

  /** nextURL points a nextLink (made with the server's public URL) at our base URL. */
  nextURL(next) {
    const n = new URL(next, this.base);
    const u = new URL(this.base + n.pathname + n.search);
    u.searchParams.set('api-version', API_VERSION);
    return u;
  }
}

/** toApiError reads Azure's error body of a failed response. */
async function toApiError(resp) {
  const requestId = resp.headers.get('request-id') ?? '';
  let text = '';
  try {
    text = await resp.text();
  } catch {
    // the body is optional
  }
  let j = null;
  try {
    j = text ? JSON.parse(text) : null;
  } catch {
    j = null;
  }
  const e = j?.['odata.error'] ?? j; // older Azure bodies nest the error
  if (e && typeof e.code === 'string') {
    const raw = typeof e.message === 'string' ? e.message : (e.message?.value ?? '');
    const message = raw.split('\n')[0];
    const values = Array.isArray(e.values) ? e.values.map((v) => ({ key: String(v.key), value: String(v.value) })) : [];
    return new ApiError(resp.status, e.code, message, values, requestId);
  }
  return new ApiError(resp.status, `HTTP ${resp.status}`, resp.statusText || text.slice(0, 200), [], requestId);
}

// SharedKey signing of Azure Batch REST requests, exactly as natch's
// shared/auth.StringToSign builds the string (and as the official
// @azure/batch SDK signs): the verb, the standard headers in order, the
// canonicalized ocp-* headers, then /account + the raw path and the query
// parameters, decoded and sorted.

/** The standard headers whose values are signed, in order, after the verb. */
const STANDARD_HEADERS = [
  'content-encoding', 'content-language', 'content-length', 'content-md5', 'content-type',
  'date', 'if-modified-since', 'if-match', 'if-none-match', 'if-unmodified-since', 'range',
];

/**
 * stringToSign returns the canonical string of a request.
 * @param {string} method HTTP verb
 * @param {Record<string,string>} headers request headers, names in lower case
 * @param {string} account account name
 * @param {string} rawPath the path as sent on the wire (percent-encoded)
 * @param {string} search the query string, with or without its leading "?"
 */
export function stringToSign(method, headers, account, rawPath, search) {
  let s = method.toUpperCase() + '\n';
  for (const name of STANDARD_HEADERS) {
    s += (headers[name] ?? '') + '\n';
  }
  const ocp = Object.keys(headers)
    .filter((n) => n.startsWith('ocp-') && headers[n] !== '' && headers[n] != null)
    .sort();
  for (const n of ocp) {
    s += n + ':' + headers[n] + '\n';
  }
  s += '/' + account + (rawPath || '/').replaceAll('%27', "'");
  const q = firstValues(search);
  for (const k of [...q.keys()].sort()) {
    s += '\n' + k + ':' + q.get(k);
  }
  return s;
}

/** firstValues decodes a query string form-style, keeping each key's first value. */
function firstValues(search) {
  const out = new Map();
  for (const [k, v] of new URLSearchParams(search)) {
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

/** decodeKey decodes a base64 account key; it throws on anything else. */
export function decodeKey(b64) {
  const clean = b64.trim();
  if (clean === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw new Error('The account key is not base64.');
  }
  return Uint8Array.from(atob(clean), (c) => c.charCodeAt(0));
}

/** base64 encodes bytes. */
export function base64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * newSigner returns an async function that signs a string with the key:
 * base64(HMAC-SHA256(key, UTF-8 of the string)). WebCrypto when the page is
 * a secure context (https, localhost, 127.0.0.1); else the JS fallback below.
 */
export function newSigner(keyBytes) {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    return async (sts) => base64(hmacSHA256(keyBytes, new TextEncoder().encode(sts)));
  }
  const key = subtle.importKey('raw', keyBytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return async (sts) => base64(new Uint8Array(await subtle.sign('HMAC', await key, new TextEncoder().encode(sts))));
}

// --- SHA-256 and HMAC in plain JS, for pages served over plain http on a
// host that is not localhost, where browsers hide crypto.subtle.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** sha256 returns the SHA-256 digest of bytes. */
export function sha256(bytes) {
  const len = bytes.length;
  const padded = new Uint8Array(((len + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[len] = 0x80;
  const dv = new DataView(padded.buffer);
  dv.setUint32(padded.length - 8, Math.floor(len / 0x20000000));
  dv.setUint32(padded.length - 4, (len << 3) >>> 0);
  const hh = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, h] = hh;
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      h = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    hh[0] += a; hh[1] += b; hh[2] += c; hh[3] += d;
    hh[4] += e; hh[5] += f; hh[6] += g; hh[7] += h;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  hh.forEach((v, i) => ov.setUint32(i * 4, v));
  return out;
}

/** hmacSHA256 returns HMAC-SHA256(key, data) (RFC 2104). */
export function hmacSHA256(key, data) {
  const k = key.length > 64 ? sha256(key) : key;
  const block = new Uint8Array(64);
  block.set(k);
  const ipad = block.map((b) => b ^ 0x36);
  const opad = block.map((b) => b ^ 0x5c);
  const inner = new Uint8Array(64 + data.length);
  inner.set(ipad);
  inner.set(data, 64);
  const innerHash = sha256(inner);
  const outer = new Uint8Array(64 + 32);
  outer.set(opad);
  outer.set(innerHash, 64);
  return sha256(outer);
}

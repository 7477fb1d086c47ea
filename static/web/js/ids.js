// Message IDs are 64-bit Snowflakes carried as decimal strings (DESIGN.md §3): a JavaScript number
// would round them, so they are compared as strings, shorter first, never parsed to Number.

const DECIMAL = /^(0|[1-9][0-9]*)$/;

export function isId(value) {
  return typeof value === 'string' && DECIMAL.test(value);
}

/** -1, 0 or 1 as a is smaller than, equal to or greater than b (both decimal strings). */
export function idCompare(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

export function idMax(a, b) {
  if (!isId(a)) return b;
  if (!isId(b)) return a;
  return idCompare(a, b) >= 0 ? a : b;
}

/** A random RFC 4122 version 4 UUID (crypto.randomUUID needs a secure context; this does not). */
export function uuid4(cryptoImpl = globalThis.crypto) {
  const bytes = new Uint8Array(16);
  cryptoImpl.getRandomValues(bytes);
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

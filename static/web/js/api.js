// The REST API of DESIGN.md §3.1 as the browser uses it: the Django session cookie, and the CSRF
// token (cookie `csrftoken`) in X-CSRFToken on every unsafe request. Errors come back as ApiError
// carrying the contract's {code, message, fields}.

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `request failed (${status})`);
    this.status = status;
    this.code = error.code || (status === 0 ? 'network' : 'error');
    this.fields = error.fields || {};
    this.retryAfter = error.retry_after || null;
  }
}

const BASE = '/api/v1/';

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

async function ensureCsrf() {
  if (!csrfToken()) await request('GET', 'auth/csrf');
}

export async function request(method, path, body, { form = false } = {}) {
  const headers = { Accept: 'application/json' };
  const unsafe = method !== 'GET' && method !== 'HEAD';
  if (unsafe) {
    if (!csrfToken() && path !== 'auth/csrf') await ensureCsrf();
    headers['X-CSRFToken'] = csrfToken();
  }
  let payload;
  if (form) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, { error: { code: 'network', message: 'The server cannot be reached.' } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body),
  patch: (path, body) => request('PATCH', path, body),
  del: (path, body) => request('DELETE', path, body),
  upload: (path, formData) => request('POST', path, formData, { form: true }),
};

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

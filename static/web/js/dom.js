// Building the page from data. Every piece of user text (bodies, names, titles, status texts) goes
// in as a text node, never as HTML: `h()` turns strings into text nodes, and links and mentions in
// a body are built as elements around text nodes (no innerHTML anywhere in the UI).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'hidden' || key === 'disabled' || key === 'checked' || key === 'selected') el[key] = Boolean(value);
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function $(id) {
  return document.getElementById(id);
}

// ---------------------------------------------------------------- avatars

const AVATAR_COLOURS = ['#5b6ee1', '#2f9e73', '#d9730d', '#c2410c', '#7c3aed', '#0e7490', '#be185d', '#4d7c0f'];

export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[1][0] : (words[0] || '?')[0];
  return letters.toUpperCase();
}

/** Fill an avatar element: the picture when there is one, else coloured initials. */
export function paintAvatar(el, { name, url, seed }) {
  clear(el);
  el.classList.add('avatar');
  if (url) {
    el.appendChild(h('img', { src: url, alt: '' }));
    el.style.removeProperty('--avatar-bg');
  } else {
    const index = Math.abs(hash(String(seed ?? name))) % AVATAR_COLOURS.length;
    el.dataset.colour = String(index);
    el.appendChild(document.createTextNode(initials(name)));
  }
  return el;
}

function hash(text) {
  let value = 0;
  for (let i = 0; i < text.length; i++) value = (value * 31 + text.charCodeAt(i)) | 0;
  return value;
}

// ---------------------------------------------------------------- times

let timeZone;
export function setTimeZone(zone) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    timeZone = zone || undefined;
  } catch {
    timeZone = undefined; // an unknown zone: the browser's own
  }
}

function fmt(options) {
  return new Intl.DateTimeFormat(undefined, { ...options, timeZone });
}

export function dayKey(iso) {
  const parts = fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }).formatToParts(new Date(iso));
  return parts.map((p) => p.value).join('');
}

export function formatClock(iso) {
  return fmt({ hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

export function formatDay(iso) {
  const date = new Date(iso);
  const today = dayKey(new Date().toISOString());
  const yesterday = dayKey(new Date(Date.now() - 86400000).toISOString());
  const key = dayKey(iso);
  if (key === today) return 'Today';
  if (key === yesterday) return 'Yesterday';
  return fmt({ weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(date);
}

/** Short time for the conversation list: the clock today, the weekday this week, else the date. */
export function formatListTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (dayKey(iso) === dayKey(new Date().toISOString())) return formatClock(iso);
  if (Date.now() - date.getTime() < 6 * 86400000) return fmt({ weekday: 'short' }).format(date);
  return fmt({ day: 'numeric', month: 'short' }).format(date);
}

export function formatFull(iso) {
  return fmt({ dateStyle: 'full', timeStyle: 'short' }).format(new Date(iso));
}

// ---------------------------------------------------------------- message bodies

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
const MENTION_RE = /(^|[^\w@])@([A-Za-z0-9_.+-]{1,150})/g;

/**
 * The body as nodes: text nodes, with links (http/https only) and @mentions of known users built
 * as elements. `usernames` maps a lower-cased username to the user's id.
 */
export function renderBody(body, { usernames = new Map(), myId = null } = {}) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  const tokens = [];
  for (const match of body.matchAll(URL_RE)) tokens.push({ start: match.index, end: match.index + match[0].length, url: match[0] });
  for (const match of body.matchAll(MENTION_RE)) {
    const start = match.index + match[1].length;
    const name = match[2].replace(/[.]+$/, '');
    const userId = usernames.get(name.toLowerCase());
    if (userId === undefined) continue;
    const end = start + 1 + name.length;
    if (tokens.some((t) => start < t.end && end > t.start)) continue;
    tokens.push({ start, end, mention: name, userId });
  }
  tokens.sort((a, b) => a.start - b.start);
  for (const token of tokens) {
    if (token.start < last) continue;
    if (token.start > last) fragment.appendChild(document.createTextNode(body.slice(last, token.start)));
    if (token.url) {
      fragment.appendChild(h('a', { href: token.url, target: '_blank', rel: 'noopener noreferrer nofollow' }, token.url));
    } else {
      const mine = myId !== null && String(token.userId) === String(myId);
      fragment.appendChild(h('span', { class: mine ? 'mention mention-me' : 'mention' }, `@${token.mention}`));
    }
    last = token.end;
  }
  if (last < body.length) fragment.appendChild(document.createTextNode(body.slice(last)));
  return fragment;
}

// ---------------------------------------------------------------- small UI pieces

export function toast(text, { kind = 'info', timeout = 4000 } = {}) {
  const box = $('toasts');
  if (!box) return;
  const item = h('div', { class: `toast toast-${kind}` }, text);
  box.appendChild(item);
  setTimeout(() => item.remove(), timeout);
}

/** A modal dialog built from nodes; resolves with the value of the button pressed (or null). */
export function dialog({ title, body, actions }) {
  const el = $('dialog');
  clear($('dialog-body')).appendChild(body);
  $('dialog-title').textContent = title;
  const bar = clear($('dialog-actions'));
  for (const action of actions) {
    bar.appendChild(h('button', { type: 'submit', value: action.value, class: action.primary ? 'primary' : 'secondary' }, action.label));
  }
  el.returnValue = '';
  el.showModal();
  return new Promise((resolve) => {
    el.addEventListener('close', () => resolve(el.returnValue || null), { once: true });
  });
}

// The chat app's entry: client-side routes (/, /c/<id>, /mentions, /people, /settings), what the
// client's events do to the page, the connection banner, the Mentions view, notifications,
// logging out, and the start. Data comes from the REST API; live events and sends go through the
// ChatClient's WebSocket (client.js). Views live in their own modules (chat-view.js, ...).

import { ApiError, api, query } from './api.js';
import { $, clear, dialog, formatClock, formatDay, h, paintAvatar, renderBody, setTimeZone, toast } from './dom.js';
import { idCompare, idMax } from './ids.js';
import { peopleView, settingsView } from './pages.js';
import { countsAsUnread } from './store.js';
import { body, client, conversationTitle, fetchConversation, lastMessageId, list, ME, rememberUser, state, TYPING_SHOW_MS, userName, usernamesOf } from './model.js';
import { loadConversations, renderConversationList } from './conversation-list.js';
import { applyUpdate, openConversation, renderChatHead, renderMessages } from './chat-view.js';
import { drafts } from './composer.js';
import { startDirect } from './details.js';

// ---------------------------------------------------------------- routing

function route() {
  const path = window.location.pathname;
  const params = new URLSearchParams(window.location.search);
  let match;
  if ((match = path.match(/^\/c\/(\d+)$/))) return { view: 'chat', id: Number(match[1]), message: params.get('m') };
  if (path === '/mentions') return { view: 'mentions' };
  if (path === '/people') return { view: 'people' };
  if (path === '/settings') return { view: 'settings' };
  return { view: 'empty' };
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState({}, '', url);
  else history.pushState({}, '', url);
  render();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const href = link.getAttribute('href');
  if (!href.startsWith('/') || href.startsWith('//') || link.target) return;
  if (!/^\/(c\/\d+(\?.*)?|mentions|people|settings)?$/.test(href)) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', () => render());

function showView(name) {
  state.view = name;
  for (const view of ['empty', 'chat', 'mentions', 'people', 'settings']) $(`view-${view}`).hidden = view !== name;
  body.classList.toggle('pane-open', name !== 'empty');
  for (const link of document.querySelectorAll('.nav-link')) {
    const active = link.dataset.nav === (name === 'chat' || name === 'empty' ? 'chats' : name);
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function render() {
  const target = route();
  if (target.view !== 'chat') state.current = null;
  showView(target.view);
  renderConversationList();
  if (target.view === 'chat') await openConversation(target.id, target.message);
  else if (target.view === 'mentions') await renderMentions();
  else if (target.view === 'people') await peopleView($('people-body'), appContext);
  else if (target.view === 'settings') await settingsView($('settings-body'), appContext);
  document.title = target.view === 'chat' && state.conversations.has(target.id) ? `${conversationTitle(state.conversations.get(target.id))} · Chat` : 'Chat';
}

// ---------------------------------------------------------------- receiving

function pageVisible() {
  return document.visibilityState === 'visible' && document.hasFocus();
}

async function onMessage(message, source) {
  const conversationId = message.conversation_id;
  let conversation = state.conversations.get(conversationId);
  if (!conversation) conversation = await fetchConversation(conversationId);
  if (!conversation) return;
  const messages = list(conversationId);
  if (messages.loaded || messages.pending.size) messages.upsert(message);
  if (
    countsAsUnread({ message, myId: ME, lastReadId: conversation.last_read_message_id, lastKnownId: conversation.lastKnownId }) &&
    !(state.current === conversationId && pageVisible() && atBottom())
  ) {
    conversation.unread_count = (conversation.unread_count || 0) + 1;
    if (source === 'live' && !pageVisible()) notifyInPage(conversation, message);
  }
  conversation.lastKnownId = idMax(conversation.lastKnownId, message.id);
  if (!conversation.last_message || idCompare(message.id, conversation.last_message.id) > 0) {
    conversation.last_message = message;
    conversation.last_activity_at = message.created_at;
  }
  clearTyping(conversationId, message.sender_id);
  scheduleRender(conversationId);
}

export function atBottom() {
  const scroller = $('messages');
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
}

let renderQueued = false;
const dirty = new Set();
function scheduleRender(conversationId) {
  dirty.add(conversationId);
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderConversationList();
    if (state.current && dirty.has(state.current)) {
      renderMessages({ stick: false });
      markRead();
    }
    dirty.clear();
  });
}

export function markRead() {
  const conversationId = state.current;
  if (!conversationId || !pageVisible() || state.view !== 'chat') return;
  const conversation = state.conversations.get(conversationId);
  const messages = list(conversationId);
  if (!conversation || messages.hasMoreAfter || !atBottom()) return;
  const newest = messages.newestId() || lastMessageId(conversation);
  if (!newest || newest === '0') return;
  if (conversation.unread_count) {
    conversation.unread_count = 0;
    renderConversationList();
  }
  if (idCompare(newest, conversation.last_read_message_id || '0') <= 0 && state.readSent.get(conversationId) === newest) return;
  conversation.last_read_message_id = idMax(conversation.last_read_message_id || '0', newest);
  if (state.readSent.get(conversationId) === newest) return;
  if (client.read(conversationId, newest)) state.readSent.set(conversationId, newest);
  else api.post(`conversations/${conversationId}/read`, { message_id: newest }).then(() => state.readSent.set(conversationId, newest), () => {});
}

document.addEventListener('visibilitychange', () => markRead());
window.addEventListener('focus', () => markRead());

client.on('message', (message, source) => onMessage(message, source));
client.on('updated', (message) => applyUpdate(message));
client.on('ack', (entry) => {
  list(entry.conversation_id).removePending(entry.client_msg_id);
});
client.on('failed', (entry, frame) => {
  const pending = list(entry.conversation_id).pending.get(entry.client_msg_id);
  if (pending) {
    pending.failed = true;
    pending.failReason = frame.message || 'Not sent.';
  }
  toast(`Message not sent: ${frame.message || frame.code}`, { kind: 'error' });
  scheduleRender(entry.conversation_id);
});
client.on('read', (frame) => {
  const conversation = state.conversations.get(frame.conversation_id);
  if (!conversation) return;
  if (frame.user_id === ME) {
    // read on another of my devices
    conversation.last_read_message_id = idMax(conversation.last_read_message_id || '0', frame.message_id);
    if (!conversation.last_message || idCompare(frame.message_id, conversation.last_message.id) >= 0) conversation.unread_count = 0;
  } else {
    conversation.readBy.set(frame.user_id, idMax(conversation.readBy.get(frame.user_id) || '0', frame.message_id));
  }
  scheduleRender(frame.conversation_id);
});
client.on('delivered', (frame) => {
  const conversation = state.conversations.get(frame.conversation_id);
  if (!conversation || !frame.user_id) return;
  conversation.deliveredTo = conversation.deliveredTo || new Map();
  conversation.deliveredTo.set(frame.user_id, idMax(conversation.deliveredTo.get(frame.user_id) || '0', frame.message_id || '0'));
  scheduleRender(frame.conversation_id);
});
client.on('typing', (frame) => {
  if (frame.user_id === ME) return;
  if (!state.typing.has(frame.conversation_id)) state.typing.set(frame.conversation_id, new Map());
  state.typing.get(frame.conversation_id).set(frame.user_id, Date.now() + TYPING_SHOW_MS);
  renderTyping();
  setTimeout(renderTyping, TYPING_SHOW_MS + 50);
});
client.on('presence', (frame) => {
  state.presence.set(frame.user_id, frame.status);
  if (frame.last_active_at) state.lastSeen.set(frame.user_id, frame.last_active_at);
  renderConversationList();
  if (state.current) renderChatHead(state.conversations.get(state.current));
});
client.on('error', (frame) => {
  if (frame.code === 'rate_limited') toast('You are sending too fast; your messages will go out in a moment.', { kind: 'warning' });
  if (frame.code === 'overloaded') toast('The service is busy; your messages will go out in a moment.', { kind: 'warning' });
});
client.on('reset', async () => {
  state.lists.clear();
  await loadConversations();
  render();
});
// The server sends no live event when I am added to a conversation, or one is renamed, until a
// message arrives in it: the list is read again with the periodic re-sync and when the tab returns.
let listRefreshedAt = Date.now();
let freshConnection = false;
async function refreshList({ force = false } = {}) {
  if (!force && Date.now() - listRefreshedAt < 20000) return;
  listRefreshedAt = Date.now();
  try {
    await loadConversations();
    renderConversationList();
    if (state.current && state.conversations.has(state.current)) {
      renderChatHead(state.conversations.get(state.current));
      markRead(); // the open conversation stays read whatever the list said a moment ago
    }
  } catch {
    /* the next round will do */
  }
}
document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && refreshList());

// After each (re)connect's catch-up the list is read again at once: the server's unread counts
// are the truth, and a list read just before may have lagged behind the newest stored messages
client.on('synced', () => {
  if (state.current) markRead();
  refreshList({ force: freshConnection });
  freshConnection = false;
});
client.on('state', (status) => {
  if (status === 'open') freshConnection = true;
});
client.on('logged_out', () => window.location.assign('/login'));
client.on('state', (status, detail) => {
  if (status === 'logged_out') {
    window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
    return;
  }
  renderBanner(status, detail);
});

export function typingNames(conversationId) {
  const typers = state.typing.get(conversationId);
  if (!typers) return '';
  const now = Date.now();
  const names = [];
  for (const [userId, until] of typers) {
    if (until > now) names.push(userName(userId));
    else typers.delete(userId);
  }
  if (!names.length) return '';
  return names.length === 1 ? names[0] : names.length === 2 ? `${names[0]} and ${names[1]}` : `${names.length} people`;
}

function clearTyping(conversationId, userId) {
  const typers = state.typing.get(conversationId);
  if (typers && typers.delete(userId)) renderTyping();
}

function renderTyping() {
  const names = state.current ? typingNames(state.current) : '';
  $('typing-indicator').textContent = names ? `${names} ${names.includes(' and ') || /people$/.test(names) ? 'are' : 'is'} typing…` : '';
  if (state.current) renderChatHead(state.conversations.get(state.current));
  renderConversationList();
}

// ---------------------------------------------------------------- connection banner

let bannerTimer = null;
function renderBanner(status, detail = {}) {
  const banner = $('connection-banner');
  clearInterval(bannerTimer);
  body.dataset.connection = status;
  if (status === 'open') {
    banner.hidden = true;
    return;
  }
  const update = () => {
    let text = 'Connecting…';
    if (status === 'offline') {
      const seconds = Math.max(0, Math.ceil((client.retryAt - Date.now()) / 1000));
      text = navigator.onLine === false ? 'You are offline. Messages you send will go out when you are back.' : `Connection lost. Reconnecting${seconds ? ` in ${seconds} s` : '…'}`;
    }
    $('connection-text').textContent = text;
    $('connection-retry').hidden = status !== 'offline';
  };
  update();
  if (status === 'offline') bannerTimer = setInterval(update, 1000);
  // a short blip on a good connection is not worth a flash of yellow
  banner.hidden = false;
  banner.classList.toggle('banner-offline', status === 'offline');
  void detail;
}
$('connection-retry').addEventListener('click', () => client.retryNow());
window.addEventListener('online', () => client.retryNow());

// ---------------------------------------------------------------- mentions

let mentionsBefore = null;
async function renderMentions({ more = false } = {}) {
  const ul = $('mention-list');
  if (!more) {
    clear(ul);
    mentionsBefore = null;
  }
  try {
    const page = await api.get(`mentions${query({ limit: 30, before: mentionsBefore })}`);
    for (const message of page.messages) {
      let conversation = state.conversations.get(message.conversation_id);
      if (!conversation) conversation = await fetchConversation(message.conversation_id);
      const title = conversation ? conversationTitle(conversation) : 'Conversation';
      const usernames = usernamesOf(conversation);
      ul.appendChild(
        h(
          'li',
          {},
          h(
            'a',
            { class: 'mention-entry', href: `/c/${message.conversation_id}?m=${message.id}`, dataset: { messageId: message.id } },
            h('span', { class: 'mention-head' }, h('strong', {}, userName(message.sender_id)), h('span', { class: 'muted' }, ` in ${title}`), h('time', { datetime: message.created_at }, `${formatDay(message.created_at)} ${formatClock(message.created_at)}`)),
            h('span', { class: 'mention-body' }, message.deleted ? h('em', {}, 'This message was deleted') : renderBody(message.body, { usernames, myId: ME })),
          ),
        ),
      );
      mentionsBefore = message.id;
    }
    $('mentions-more').hidden = !page.has_more;
    $('mentions-empty').hidden = ul.children.length > 0;
  } catch (error) {
    toast(`Could not load mentions: ${error.message}`, { kind: 'error' });
  }
}
$('mentions-more').addEventListener('click', () => renderMentions({ more: true }));

// ---------------------------------------------------------------- in-page notifications

function notifyInPage(conversation, message) {
  if (!('Notification' in window) || Notification.permission !== 'granted' || conversation.muted) return;
  if (!state.me?.settings?.notifications_enabled) return;
  const title = conversation.type === 'group' ? `${userName(message.sender_id)} in ${conversationTitle(conversation)}` : userName(message.sender_id);
  // the text only when the user allowed it on this browser (Settings); pushes never carry it
  const preview = localStorage.getItem('chat:notification-previews') === 'on';
  const note = new Notification(title, { body: preview ? message.body.slice(0, 140) : 'New message', tag: `conversation-${conversation.id}` });
  note.onclick = () => {
    window.focus();
    navigate(`/c/${conversation.id}`);
    note.close();
  };
}

// ---------------------------------------------------------------- me, log out

function renderMe() {
  const me = state.me;
  $('me-name').textContent = me.display_name || me.username;
  $('welcome-name').textContent = me.display_name || me.username;
  $('me-status').textContent = me.status_text || `@${me.username}`;
  paintAvatar($('me-avatar'), { name: me.display_name || me.username, url: me.avatar_url, seed: me.id });
}

export async function logout() {
  if (client.pending().length) {
    const answer = await dialog({ title: 'Log out?', body: h('p', {}, 'Some messages have not been sent yet and will be lost.'), actions: [{ label: 'Stay', value: 'cancel' }, { label: 'Log out', value: 'ok', primary: true }] });
    if (answer !== 'ok') return;
  }
  client.stop();
  try {
    await api.post('auth/logout');
  } catch {
    /* the session may be gone already */
  }
  client.clearStorage();
  // the server drops this login's push registration; drafts stay with nobody on a shared computer
  localStorage.removeItem('chat:push-device-id');
  sessionStorage.clear();
  window.location.assign('/login');
}

$('logout-button').addEventListener('click', () => logout());
$('me-button').addEventListener('click', () => navigate('/settings'));

const appContext = {
  api,
  state,
  client,
  navigate,
  startDirect,
  toast,
  rememberUser,
  logout,
  refreshMe: async () => {
    state.me = await api.get('me');
    setTimeZone(state.me.time_zone);
    rememberUser(state.me);
    renderMe();
  },
  updateRequestsBadge: async () => {
    try {
      const incoming = await api.get('friends/requests/incoming');
      const badge = $('requests-badge');
      badge.textContent = incoming.count ? String(incoming.count) : '';
      badge.hidden = !incoming.count;
    } catch {
      /* no badge */
    }
  },
};

// ---------------------------------------------------------------- start

export async function start() {
  try {
    await appContext.refreshMe();
    await loadConversations();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      return;
    }
    toast(`Could not load your conversations: ${error.message}`, { kind: 'error' });
  }
  let newest = '0';
  for (const conversation of state.conversations.values()) newest = idMax(newest, lastMessageId(conversation));
  client.seedCursor(newest);
  // messages still in the outbox from before a reload show as pending in their conversations
  for (const entry of client.pending()) list(entry.conversation_id).addPending(entry);
  client.start();
  render();
  appContext.updateRequestsBadge();
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {});
  navigator.serviceWorker?.addEventListener('message', (event) => {
    if (event.data?.type === 'open' && event.data.url) navigate(event.data.url);
  });
}

start();

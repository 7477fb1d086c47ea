// The chat app's entry: client-side routes (/, /c/<id>, /mentions, /people, /settings), what the
// client's events do to the page, the connection banner, the Mentions view, notifications,
// logging out, and the start. Data comes from the REST API; live events and sends go through the
// ChatClient's WebSocket (client.js). Views live in their own modules (chat-view.js, ...).

import { ApiError, api, query } from './api.js';
import { $, clear, dialog, formatClock, formatDay, h, paintAvatar, renderBody, setTimeZone, toast } from './dom.js';
import { idCompare, idMax } from './ids.js';
import { peopleView, settingsView } from './pages.js';
import { applyEntry } from './feed.js';
import { body, client, conversationTitle, fetchConversation, lastMessageId, list, ME, rememberUser, state, userName, usernamesOf } from './model.js';
import { loadConversations, renderConversationList } from './conversation-list.js';
import { openConversation, renderChatHead } from './chat-view.js';
import './composer.js';
import { startDirect } from './details.js';
import './receiving.js';

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

export async function render() {
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

export function pageVisible() {
  return document.visibilityState === 'visible' && document.hasFocus();
}

export function atBottom() {
  const scroller = $('messages');
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
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
  // my read position moves here as the read entry the server sends my other devices moves theirs
  applyEntry(state, { type: 'read', conversation_id: conversationId, user_id: ME, message_id: newest });
  if (state.readSent.get(conversationId) === newest) return;
  if (client.read(conversationId, newest)) state.readSent.set(conversationId, newest);
  else api.post(`conversations/${conversationId}/read`, { message_id: newest }).then(() => state.readSent.set(conversationId, newest), () => {});
}

document.addEventListener('visibilitychange', () => markRead());
window.addEventListener('focus', () => markRead());

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

export function clearTyping(conversationId, userId) {
  const typers = state.typing.get(conversationId);
  if (typers && typers.delete(userId)) renderTyping();
}

export function renderTyping() {
  const names = state.current ? typingNames(state.current) : '';
  $('typing-indicator').textContent = names ? `${names} ${names.includes(' and ') || /people$/.test(names) ? 'are' : 'is'} typing…` : '';
  if (state.current) renderChatHead(state.conversations.get(state.current));
  renderConversationList();
}

// ---------------------------------------------------------------- connection banner

let bannerTimer = null;
export function renderBanner(status, detail = {}) {
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

export function notifyInPage(conversation, message) {
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

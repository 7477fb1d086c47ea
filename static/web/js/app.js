// The chat app: conversation list, chat view, mentions, people and settings, on one page with
// client-side routes (/, /c/<id>, /mentions, /people, /settings). Data comes from the REST API;
// live events and sends go through the ChatClient's WebSocket (client.js).

import { ApiError, api, query } from './api.js';
import { ChatClient, DiscoveryError } from './client.js';
import { $, clear, dayKey, dialog, formatClock, formatDay, formatFull, formatListTime, h, paintAvatar, renderBody, setTimeZone, toast } from './dom.js';
import { idCompare, idMax } from './ids.js';
import { peopleView, settingsView } from './pages.js';
import { MessageList, countsAsUnread } from './store.js';

const body = document.body;
const ME = Number(body.dataset.userId);
const HEARTBEAT_MS = Number(body.dataset.heartbeatMs) || 10000;
const PAGE = 50;
const GROUP_GAP_MS = 5 * 60 * 1000; // messages of one sender closer than this share a group
const TYPING_SHOW_MS = 6000;
const TYPING_SEND_MS = 3000;

const state = {
  me: null,
  conversations: new Map(), // id → conversation payload (+ readBy, lastKnownId)
  lists: new Map(), // id → MessageList
  users: new Map(), // id → {id, username, display_name, avatar_url}
  presence: new Map(), // user id → status
  lastSeen: new Map(), // user id → last_active_at (ISO)
  current: null, // open conversation id
  view: 'empty',
  typing: new Map(), // conversation id → Map(user id → expiry)
  lastTypingSent: 0,
  highlight: null,
  loadingOlder: false,
  readSent: new Map(), // conversation id → message id last marked read
  editing: null, // {id, text} of the message being edited
  unreadFrom: null, // {conversationId, afterId}: the "New messages" divider
};

// ---------------------------------------------------------------- the client

const client = new ChatClient({
  userId: ME,
  WebSocket: window.WebSocket,
  storage: window.localStorage,
  heartbeatMs: HEARTBEAT_MS,
  discover: async () => {
    try {
      const answer = await api.get('chat/server');
      return { url: answer.chat_server.url, ticket: answer.ticket, heartbeatInterval: answer.heartbeat_interval };
    } catch (error) {
      throw new DiscoveryError(error.status, error.code, error.message);
    }
  },
});
window.chatClient = client; // for the browser tests and the curious

// ---------------------------------------------------------------- helpers

function list(conversationId) {
  let messages = state.lists.get(conversationId);
  if (!messages) {
    messages = new MessageList();
    state.lists.set(conversationId, messages);
  }
  return messages;
}

function userName(userId) {
  if (String(userId) === String(ME) && state.me) return state.me.display_name || state.me.username;
  const user = state.users.get(Number(userId));
  return user ? user.display_name || user.username : `User ${userId}`;
}

function rememberUser(user) {
  if (!user || user.id === undefined) return;
  const known = state.users.get(user.id) || {};
  state.users.set(user.id, { ...known, ...user });
}

function otherMember(conversation) {
  return conversation.members.find((m) => m.user_id !== ME) || conversation.members[0];
}

function conversationTitle(conversation) {
  if (conversation.type === 'group') return conversation.title || 'Untitled group';
  const other = otherMember(conversation);
  return other ? other.display_name || other.username : 'Conversation';
}

function usernamesOf(conversation) {
  const names = new Map();
  for (const m of conversation?.members || []) names.set(m.username.toLowerCase(), m.user_id);
  return names;
}

function lastMessageId(conversation) {
  return conversation.last_message ? conversation.last_message.id : '0';
}

function activityTime(conversation) {
  return Date.parse(conversation.last_message?.created_at || conversation.last_activity_at || conversation.created_at) || 0;
}

function adoptConversation(payload) {
  const known = state.conversations.get(payload.id);
  const conversation = {
    ...payload,
    readBy: known?.readBy || new Map(),
    lastKnownId: idMax(known?.lastKnownId || '0', lastMessageId(payload)),
  };
  for (const m of payload.members || []) {
    rememberUser({ id: m.user_id, username: m.username, display_name: m.display_name });
    if (m.last_read_message_id) conversation.readBy.set(m.user_id, idMax(conversation.readBy.get(m.user_id) || '0', m.last_read_message_id));
  }
  if (known && known.last_message && payload.last_message && idCompare(known.last_message.id, payload.last_message.id) > 0) {
    conversation.last_message = known.last_message;
  }
  state.conversations.set(payload.id, conversation);
  return conversation;
}

async function fetchConversation(conversationId) {
  try {
    const conversation = adoptConversation(await api.get(`conversations/${conversationId}`));
    if (conversation.type === 'direct') loadPresence(); // a new face in the list: their dot
    return conversation;
  } catch {
    return null;
  }
}

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

// ---------------------------------------------------------------- conversation list

function renderConversationList() {
  const ul = clear($('conversation-list'));
  const filter = $('conversation-filter').value.trim().toLowerCase();
  const conversations = [...state.conversations.values()].sort((a, b) => activityTime(b) - activityTime(a));
  let shown = 0;
  for (const conversation of conversations) {
    const title = conversationTitle(conversation);
    if (filter && !title.toLowerCase().includes(filter)) continue;
    shown += 1;
    ul.appendChild(conversationItem(conversation, title));
  }
  $('conversation-empty').hidden = shown > 0;
  let unreadTotal = 0;
  for (const c of state.conversations.values()) unreadTotal += c.unread_count || 0;
  document.title = `${unreadTotal ? `(${unreadTotal}) ` : ''}${document.title.replace(/^\(\d+\) /, '')}`;
}

function conversationItem(conversation, title) {
  const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' });
  let presence = null;
  if (conversation.type === 'direct') {
    const other = otherMember(conversation);
    const user = state.users.get(other?.user_id) || {};
    paintAvatar(avatar, { name: title, url: user.avatar_url, seed: other?.user_id });
    const status = state.presence.get(other?.user_id);
    if (status) presence = h('span', { class: `presence-dot presence-${status}`, title: status });
  } else {
    paintAvatar(avatar, { name: title, seed: `g${conversation.id}` });
    avatar.classList.add('avatar-group');
  }
  const last = conversation.last_message;
  let preview = 'No messages yet';
  if (last) {
    const who = last.sender_id === ME ? 'You: ' : conversation.type === 'group' ? `${userName(last.sender_id)}: ` : '';
    preview = last.deleted ? `${who}Message deleted` : `${who}${last.body.replace(/\s+/g, ' ').slice(0, 120)}`;
  }
  const typing = typingNames(conversation.id);
  const unread = conversation.unread_count || 0;
  const link = h(
    'a',
    {
      href: `/c/${conversation.id}`,
      class: `conversation${state.current === conversation.id ? ' active' : ''}${unread ? ' has-unread' : ''}`,
      dataset: { conversationId: String(conversation.id) },
      'aria-current': state.current === conversation.id ? 'true' : null,
    },
    h('span', { class: 'avatar-wrap' }, avatar, presence),
    h(
      'span',
      { class: 'conversation-text' },
      h('span', { class: 'conversation-top' }, h('span', { class: 'conversation-title' }, title), h('time', { class: 'conversation-time', datetime: last?.created_at || '' }, formatListTime(last?.created_at || conversation.last_activity_at))),
      h(
        'span',
        { class: 'conversation-bottom' },
        h('span', { class: `conversation-preview${typing ? ' is-typing' : ''}` }, typing ? `${typing} typing…` : preview),
        unread ? h('span', { class: 'badge unread-badge', 'aria-label': `${unread} unread` }, unread > 99 ? '99+' : String(unread)) : null,
        conversation.muted ? h('span', { class: 'muted-mark', title: 'Muted' }, 'muted') : null,
      ),
    ),
  );
  return h('li', {}, link);
}

async function loadConversations() {
  let before;
  const seen = new Set();
  for (let page = 0; page < 10; page++) {
    const answer = await api.get(`conversations${query({ limit: 100, before })}`);
    for (const conversation of answer.conversations) {
      adoptConversation(conversation);
      seen.add(conversation.id);
    }
    if (!answer.has_more || !answer.conversations.length) break;
    before = answer.conversations[answer.conversations.length - 1].id; // the last one seen
  }
  for (const id of [...state.conversations.keys()]) if (!seen.has(id)) state.conversations.delete(id);
  await loadPresence();
}

async function loadPresence() {
  const ids = new Set();
  for (const c of state.conversations.values()) if (c.type === 'direct') ids.add(otherMember(c)?.user_id);
  ids.delete(undefined);
  if (!ids.size) return;
  try {
    const answer = await api.get(`presence${query({ user_ids: [...ids].slice(0, 100).join(',') })}`);
    for (const entry of answer.results || answer) {
      state.presence.set(entry.user_id, entry.status);
      if (entry.last_active_at) state.lastSeen.set(entry.user_id, entry.last_active_at);
    }
  } catch {
    /* presence is a nicety */
  }
}

$('conversation-filter').addEventListener('input', () => renderConversationList());

// ---------------------------------------------------------------- chat view

async function openConversation(conversationId, jumpTo) {
  let conversation = state.conversations.get(conversationId);
  if (!conversation) conversation = await fetchConversation(conversationId);
  if (!conversation) {
    toast('That conversation does not exist or you are not a member.', { kind: 'error' });
    navigate('/', { replace: true });
    return;
  }
  const switched = state.current !== conversationId;
  state.current = conversationId;
  renderChatHead(conversation);
  renderConversationList();
  if (switched) {
    state.editing = null;
    // where "New messages" starts: after what was read when the conversation was opened
    state.unreadFrom = conversation.unread_count ? { conversationId, afterId: conversation.last_read_message_id || '0' } : null;
    $('composer-input').value = draftOf(conversationId);
    autosize();
    closeDetails();
  }
  const messages = list(conversationId);
  if (jumpTo) {
    await jumpToMessage(conversationId, jumpTo);
    return;
  }
  if (messages.hasMoreAfter) {
    // a window in the past from an earlier jump: back to the present
    messages.resetWindow([], { hasMoreBefore: true, hasMoreAfter: false });
    messages.loaded = false;
  }
  if (!messages.loaded) {
    renderMessages({ stick: true });
    await loadNewest(conversationId);
  }
  renderMessages({ stick: switched });
  markRead();
  if (switched && window.matchMedia('(min-width: 720px)').matches) $('composer-input').focus();
}

async function loadNewest(conversationId) {
  const messages = list(conversationId);
  $('history-status').textContent = 'Loading…';
  try {
    const page = await api.get(`conversations/${conversationId}/messages${query({ limit: PAGE })}`);
    messages.addPage(page.messages, { hasMoreBefore: page.has_more });
    client.markSeen(page.messages.map((m) => m.id));
  } catch (error) {
    toast(`Could not load the messages: ${error.message}`, { kind: 'error' });
  }
}

async function loadOlder() {
  const conversationId = state.current;
  const messages = list(conversationId);
  if (state.loadingOlder || !messages.hasMoreBefore || !messages.loaded) return;
  state.loadingOlder = true;
  const scroller = $('messages');
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  $('history-status').textContent = 'Loading older messages…';
  try {
    const page = await api.get(`conversations/${conversationId}/messages${query({ before: messages.oldestId(), limit: PAGE })}`);
    messages.addPage(page.messages, { hasMoreBefore: page.has_more });
    client.markSeen(page.messages.map((m) => m.id));
    if (state.current === conversationId) {
      renderMessages({ stick: false });
      scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the reader's place
    }
  } catch (error) {
    toast(`Could not load older messages: ${error.message}`, { kind: 'error' });
  } finally {
    state.loadingOlder = false;
  }
  // still at the top (a short page, or a scroll that came while this load ran): the next page
  if (state.current === conversationId && scroller.scrollTop < 200 && messages.hasMoreBefore) setTimeout(loadOlder, 0);
}

async function loadNewer() {
  const conversationId = state.current;
  const messages = list(conversationId);
  if (state.loadingOlder || !messages.hasMoreAfter) return;
  state.loadingOlder = true;
  try {
    const page = await api.get(`conversations/${conversationId}/messages${query({ after: messages.newestId(), limit: PAGE })}`);
    const more = page.has_more;
    messages.hasMoreAfter = false; // let the page in
    messages.addPage(page.messages, { hasMoreAfter: more });
    client.markSeen(page.messages.map((m) => m.id));
    if (state.current === conversationId) renderMessages({ stick: false });
  } finally {
    state.loadingOlder = false;
  }
}

async function jumpToMessage(conversationId, messageId) {
  const messages = list(conversationId);
  if (!messages.byId.has(messageId)) {
    try {
      const page = await api.get(`conversations/${conversationId}/messages${query({ around: messageId, limit: PAGE })}`);
      messages.resetWindow(page.messages, { hasMoreBefore: page.has_more_before ?? page.has_more, hasMoreAfter: Boolean(page.has_more_after) });
      client.markSeen(page.messages.map((m) => m.id));
    } catch (error) {
      toast(`Could not load that message: ${error.message}`, { kind: 'error' });
      return;
    }
  }
  state.highlight = messageId;
  renderMessages({ stick: false });
  const el = document.querySelector(`.message[data-message-id="${messageId}"]`);
  if (el) {
    el.scrollIntoView({ block: 'center' });
    el.classList.add('highlighted');
    el.focus({ preventScroll: true });
  }
  history.replaceState({}, '', `/c/${conversationId}`);
}

$('messages').addEventListener('scroll', () => {
  const scroller = $('messages');
  if (scroller.scrollTop < 200) loadOlder();
  const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  if (nearBottom && state.current && list(state.current).hasMoreAfter) loadNewer();
  $('jump-latest').hidden = nearBottom && !(state.current && list(state.current).hasMoreAfter);
  if (nearBottom) markRead();
});

$('jump-latest').addEventListener('click', async () => {
  const messages = list(state.current);
  if (messages.hasMoreAfter) {
    messages.resetWindow([], { hasMoreBefore: true, hasMoreAfter: false });
    messages.loaded = false;
    await loadNewest(state.current);
  }
  renderMessages({ stick: true });
});

function renderChatHead(conversation) {
  $('chat-title').textContent = conversationTitle(conversation);
  const avatar = $('chat-avatar');
  if (conversation.type === 'direct') {
    const other = otherMember(conversation);
    const user = state.users.get(other?.user_id) || {};
    paintAvatar(avatar, { name: conversationTitle(conversation), url: user.avatar_url, seed: other?.user_id });
    const status = state.presence.get(other?.user_id);
    const seen = state.lastSeen.get(other?.user_id);
    const day = seen ? formatDay(seen) : '';
    const when = day === 'Today' || day === 'Yesterday' ? day.toLowerCase() : `on ${day}`;
    const offline = seen ? `Last seen ${when} at ${formatClock(seen)}` : 'Offline';
    $('chat-subtitle').textContent = typingNames(conversation.id) ? 'typing…' : status === 'online' ? 'Online' : status ? offline : `@${other?.username || ''}`;
  } else {
    paintAvatar(avatar, { name: conversationTitle(conversation), seed: `g${conversation.id}` });
    $('chat-subtitle').textContent = conversation.members.map((m) => (m.user_id === ME ? 'you' : m.display_name || m.username)).join(', ');
  }
}

function ownState(conversation, message) {
  const others = conversation.members.filter((m) => m.user_id !== ME);
  if (!others.length) return 'sent';
  const readers = others.filter((m) => idCompare(conversation.readBy.get(m.user_id) || '0', message.id) >= 0);
  if (readers.length === others.length) return 'read';
  const delivered = conversation.deliveredTo && others.every((m) => idCompare(conversation.deliveredTo.get(m.user_id) || '0', message.id) >= 0);
  return delivered ? 'delivered' : 'sent';
}

const TICKS = {
  pending: ['◷', 'Sending'],
  sent: ['✓', 'Sent'],
  delivered: ['✓✓', 'Delivered'],
  read: ['✓✓', 'Read'],
  failed: ['!', 'Not sent'],
};

function ticks(kind) {
  const [symbol, label] = TICKS[kind];
  return h('span', { class: `ticks ticks-${kind}`, 'aria-label': label, title: label, dataset: { state: kind } }, symbol);
}

function renderMessages({ stick }) {
  const conversationId = state.current;
  if (!conversationId) return;
  const conversation = state.conversations.get(conversationId);
  const messages = list(conversationId);
  const scroller = $('messages');
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  const focused = document.activeElement;
  const caret = focused && focused.classList.contains('edit-input') ? [focused.selectionStart, focused.selectionEnd] : null;
  const box = clear($('message-items'));
  const usernames = usernamesOf(conversation);
  $('history-status').textContent = !messages.loaded ? 'Loading…' : messages.hasMoreBefore ? '' : messages.items.length ? 'This is the start of the conversation.' : 'No messages yet. Say hello!';

  const { stored, pending } = messages.timeline();
  const rows = [
    ...stored.map((m) => ({ message: m, kind: m.sender_id === ME ? ownState(conversation, m) : null })),
    ...(messages.hasMoreAfter ? [] : pending.map((p) => ({ message: { ...p, id: null, sender_id: ME, mentions: [], deleted: false }, kind: p.failed ? 'failed' : 'pending' }))),
  ];
  let lastDay = null;
  let group = null;
  let prev = null;
  let dividerShown = false;
  const unreadAfter = state.unreadFrom && state.unreadFrom.conversationId === conversationId ? state.unreadFrom.afterId : null;
  for (const row of rows) {
    const m = row.message;
    if (unreadAfter && !dividerShown && m.id && m.sender_id !== ME && idCompare(m.id, unreadAfter) > 0) {
      box.appendChild(h('div', { class: 'unread-divider', role: 'separator' }, h('span', {}, 'New messages')));
      dividerShown = true;
      group = null;
    }
    const day = dayKey(m.created_at);
    if (day !== lastDay) {
      box.appendChild(h('div', { class: 'day-separator', role: 'separator' }, h('span', {}, formatDay(m.created_at))));
      lastDay = day;
      group = null;
    }
    const gap = prev ? Date.parse(m.created_at) - Date.parse(prev.created_at) : Infinity;
    if (!group || prev.sender_id !== m.sender_id || gap > GROUP_GAP_MS) {
      const mine = m.sender_id === ME;
      const user = state.users.get(m.sender_id) || {};
      const avatar = mine ? null : paintAvatar(h('span', { class: 'avatar small', 'aria-hidden': 'true' }), { name: userName(m.sender_id), url: user.avatar_url, seed: m.sender_id });
      const items = h('div', { class: 'group-items' });
      group = h(
        'div',
        { class: `message-group ${mine ? 'mine' : 'theirs'}` },
        avatar,
        h('div', { class: 'group-main' }, h('div', { class: 'group-head' }, h('span', { class: 'sender' }, mine ? 'You' : userName(m.sender_id)), h('time', { datetime: m.created_at, title: formatFull(m.created_at) }, formatClock(m.created_at))), items),
      );
      group.items = items;
      box.appendChild(group);
    }
    group.items.appendChild(messageRow(m, row.kind, usernames));
    prev = m;
  }
  if (caret) {
    const input = box.querySelector('.edit-input');
    if (input) {
      input.focus({ preventScroll: true });
      input.setSelectionRange(...caret);
    }
  }
  if (stick || atBottom) scroller.scrollTop = scroller.scrollHeight;
  $('jump-latest').hidden = !messages.hasMoreAfter && (stick || atBottom);
}

function messageRow(m, kind, usernames) {
  const mine = m.sender_id === ME;
  const bodyEl = h('div', { class: 'body' });
  if (m.deleted) bodyEl.appendChild(h('em', { class: 'deleted' }, 'This message was deleted'));
  else bodyEl.appendChild(renderBody(m.body, { usernames, myId: ME }));
  const meta = h(
    'span',
    { class: 'meta' },
    m.edited_at && !m.deleted ? h('span', { class: 'edited', title: `Edited ${formatFull(m.edited_at)}` }, 'edited') : null,
    h('time', { datetime: m.created_at, title: formatFull(m.created_at) }, formatClock(m.created_at)),
    mine && kind ? ticks(kind) : null,
  );
  const attrs = {
    class: `message${m.mentions?.includes(ME) ? ' mentions-me' : ''}${state.highlight && m.id === state.highlight ? ' highlighted' : ''}`,
    dataset: m.id ? { messageId: m.id } : { clientMsgId: m.client_msg_id },
    tabindex: '-1',
  };
  const editing = state.editing && m.id && state.editing.id === m.id;
  const row = h('div', attrs, editing ? editBox(m) : h('div', { class: 'bubble' }, bodyEl, meta));
  if (mine && m.id && !m.deleted && !editing) {
    row.appendChild(
      h(
        'div',
        { class: 'message-actions' },
        h('button', { type: 'button', class: 'link-button', 'aria-label': 'Edit message', onclick: () => editMessage(m) }, 'Edit'),
        h('button', { type: 'button', class: 'link-button danger', 'aria-label': 'Delete message', onclick: () => deleteMessage(m) }, 'Delete'),
      ),
    );
  }
  if (kind === 'failed') {
    row.appendChild(
      h(
        'div',
        { class: 'message-actions visible' },
        h('span', { class: 'failed-reason' }, m.failReason || 'Not sent.'),
        h('button', { type: 'button', class: 'link-button danger', onclick: () => { list(m.conversation_id).removePending(m.client_msg_id); renderMessages({ stick: false }); } }, 'Dismiss'),
      ),
    );
  }
  return row;
}

// The message being edited survives re-renders (a receipt or a new message arriving meanwhile):
// its box is rebuilt from state.editing, with the text typed so far and the caret where it was.
function editMessage(message) {
  state.editing = { id: message.id, text: message.body };
  renderMessages({ stick: false });
  const input = document.querySelector('.edit-input');
  if (input) {
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  }
}

function editBox(message) {
  const input = h('textarea', { class: 'edit-input', 'aria-label': 'Edit message', rows: '2' });
  input.value = state.editing.text;
  input.addEventListener('input', () => {
    state.editing.text = input.value;
  });
  const cancel = () => {
    state.editing = null;
    renderMessages({ stick: false });
  };
  const save = async () => {
    const text = input.value.trim();
    if (!text || text === message.body) return cancel();
    state.editing = null;
    try {
      applyUpdate(await api.patch(`conversations/${message.conversation_id}/messages/${message.id}`, { body: text }));
    } catch (error) {
      toast(`Could not edit: ${error.message}`, { kind: 'error' });
      renderMessages({ stick: false });
    }
  };
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      save();
    } else if (event.key === 'Escape') cancel();
  });
  return h('div', { class: 'edit-box' }, input, h('div', { class: 'edit-actions' }, h('button', { type: 'button', class: 'secondary small', onclick: cancel }, 'Cancel'), h('button', { type: 'button', class: 'primary small', onclick: save }, 'Save')));
}

async function deleteMessage(message) {
  const answer = await dialog({ title: 'Delete message?', body: h('p', {}, 'It will be deleted for everyone in this conversation.'), actions: [{ label: 'Cancel', value: 'cancel' }, { label: 'Delete', value: 'delete', primary: true }] });
  if (answer !== 'delete') return;
  try {
    await api.del(`conversations/${message.conversation_id}/messages/${message.id}`);
    applyUpdate({ ...message, deleted: true, body: '' });
  } catch (error) {
    toast(`Could not delete: ${error.message}`, { kind: 'error' });
  }
}

function applyUpdate(message) {
  const conversation = state.conversations.get(message.conversation_id);
  list(message.conversation_id).upsert(message, { replace: true });
  if (conversation && conversation.last_message && conversation.last_message.id === message.id) conversation.last_message = message;
  if (state.current === message.conversation_id) renderMessages({ stick: false });
  renderConversationList();
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

function atBottom() {
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

function markRead() {
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

function typingNames(conversationId) {
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

// ---------------------------------------------------------------- composer

const drafts = new Map();
function draftOf(conversationId) {
  return drafts.get(conversationId) ?? sessionStorage.getItem(`chat:draft:${conversationId}`) ?? '';
}

function autosize() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

function sendComposer() {
  const input = $('composer-input');
  const text = input.value;
  const conversationId = state.current;
  if (!conversationId || !text.trim()) return;
  const entry = client.send(conversationId, text);
  list(conversationId).addPending(entry);
  input.value = '';
  drafts.delete(conversationId);
  sessionStorage.removeItem(`chat:draft:${conversationId}`);
  autosize();
  hideSuggestions();
  renderMessages({ stick: true });
}

$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  sendComposer();
  $('composer-input').focus();
});

$('composer-input').addEventListener('keydown', (event) => {
  if (suggestionsOpen() && handleSuggestionKey(event)) return;
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendComposer();
  }
});

$('composer-input').addEventListener('input', () => {
  const input = $('composer-input');
  const conversationId = state.current;
  if (!conversationId) return;
  drafts.set(conversationId, input.value);
  sessionStorage.setItem(`chat:draft:${conversationId}`, input.value);
  autosize();
  updateSuggestions();
  const now = Date.now();
  if (input.value.trim() && now - state.lastTypingSent > TYPING_SEND_MS) {
    state.lastTypingSent = now;
    client.typing(conversationId);
  }
});

// ---------------------------------------------------------------- @mention autocomplete

let suggestion = { items: [], index: 0, start: 0 };

function suggestionsOpen() {
  return !$('mention-suggestions').hidden;
}

function hideSuggestions() {
  $('mention-suggestions').hidden = true;
  $('composer-input').removeAttribute('aria-activedescendant');
  $('composer-input').setAttribute('aria-expanded', 'false');
}

function updateSuggestions() {
  const input = $('composer-input');
  const before = input.value.slice(0, input.selectionStart);
  const match = before.match(/(^|\s)@([A-Za-z0-9_.+-]{0,30})$/);
  const conversation = state.conversations.get(state.current);
  if (!match || !conversation) return hideSuggestions();
  const prefix = match[2].toLowerCase();
  const items = conversation.members
    .filter((m) => m.user_id !== ME)
    .filter((m) => m.username.toLowerCase().startsWith(prefix) || (m.display_name || '').toLowerCase().startsWith(prefix))
    .slice(0, 8);
  if (!items.length) return hideSuggestions();
  suggestion = { items, index: 0, start: before.length - match[2].length - 1 };
  renderSuggestions();
}

function renderSuggestions() {
  const ul = clear($('mention-suggestions'));
  suggestion.items.forEach((m, i) => {
    ul.appendChild(
      h(
        'li',
        { id: `mention-option-${i}`, role: 'option', 'aria-selected': i === suggestion.index ? 'true' : 'false', class: i === suggestion.index ? 'active' : '', onmousedown: (event) => { event.preventDefault(); pickSuggestion(i); } },
        h('span', { class: 'suggestion-name' }, m.display_name || m.username),
        h('span', { class: 'suggestion-username' }, `@${m.username}`),
      ),
    );
  });
  ul.hidden = false;
  $('composer-input').setAttribute('aria-expanded', 'true');
  $('composer-input').setAttribute('aria-activedescendant', `mention-option-${suggestion.index}`);
}

function handleSuggestionKey(event) {
  if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    const n = suggestion.items.length;
    suggestion.index = (suggestion.index + (event.key === 'ArrowDown' ? 1 : n - 1)) % n;
    renderSuggestions();
    return true;
  }
  if (event.key === 'Enter' || event.key === 'Tab') {
    event.preventDefault();
    pickSuggestion(suggestion.index);
    return true;
  }
  if (event.key === 'Escape') {
    hideSuggestions();
    return true;
  }
  return false;
}

function pickSuggestion(index) {
  const input = $('composer-input');
  const member = suggestion.items[index];
  const caret = input.selectionStart;
  const text = `@${member.username} `;
  input.value = input.value.slice(0, suggestion.start) + text + input.value.slice(caret);
  const position = suggestion.start + text.length;
  input.setSelectionRange(position, position);
  hideSuggestions();
  input.dispatchEvent(new Event('input'));
  input.focus();
}

// ---------------------------------------------------------------- details panel (members, rename)

function closeDetails() {
  $('chat-details').hidden = true;
  $('chat-details-button').setAttribute('aria-expanded', 'false');
}

$('chat-details-button').addEventListener('click', () => {
  const panel = $('chat-details');
  if (!panel.hidden) return closeDetails();
  renderDetails();
  panel.hidden = false;
  $('chat-details-button').setAttribute('aria-expanded', 'true');
});

function renderDetails() {
  const conversation = state.conversations.get(state.current);
  const panel = clear($('chat-details'));
  if (!conversation) return;
  const mine = conversation.members.find((m) => m.user_id === ME);
  const admin = mine && (mine.role === 'owner' || mine.role === 'admin');
  panel.appendChild(h('h3', {}, conversation.type === 'group' ? 'Group' : 'Conversation'));
  if (conversation.type === 'group' && admin) {
    const title = h('input', { id: 'group-title-input', value: conversation.title, maxlength: '100' });
    panel.appendChild(
      h(
        'form',
        { class: 'inline-form', onsubmit: async (event) => {
          event.preventDefault();
          try {
            adoptConversation(await api.patch(`conversations/${conversation.id}`, { title: title.value.trim() }));
            renderChatHead(state.conversations.get(conversation.id));
            renderConversationList();
            toast('Group renamed.');
          } catch (error) {
            toast(error.message, { kind: 'error' });
          }
        } },
        h('label', { for: 'group-title-input' }, 'Group name'),
        title,
        h('button', { type: 'submit', class: 'secondary small' }, 'Rename'),
      ),
    );
  }
  const muted = h('input', { type: 'checkbox', id: 'mute-toggle', checked: conversation.muted });
  muted.addEventListener('change', async () => {
    try {
      adoptConversation(await api.patch(`conversations/${conversation.id}`, { muted: muted.checked }));
      renderConversationList();
    } catch (error) {
      toast(error.message, { kind: 'error' });
    }
  });
  panel.appendChild(h('p', { class: 'check-row' }, muted, h('label', { for: 'mute-toggle' }, 'Mute notifications')));
  panel.appendChild(h('h3', {}, `Members (${conversation.members.length})`));
  const ul = h('ul', { class: 'member-list' });
  for (const m of conversation.members) {
    const canRemove = conversation.type === 'group' && (m.user_id === ME || (admin && m.role !== 'owner'));
    ul.appendChild(
      h(
        'li',
        {},
        paintAvatar(h('span', { class: 'avatar small', 'aria-hidden': 'true' }), { name: m.display_name || m.username, seed: m.user_id, url: state.users.get(m.user_id)?.avatar_url }),
        h('span', { class: 'member-name' }, m.user_id === ME ? `${m.display_name || m.username} (you)` : m.display_name || m.username, m.role !== 'member' ? h('span', { class: 'role' }, m.role) : null),
        canRemove
          ? h('button', { type: 'button', class: 'link-button danger', onclick: () => removeMember(conversation, m) }, m.user_id === ME ? 'Leave' : 'Remove')
          : null,
      ),
    );
  }
  panel.appendChild(ul);
  if (conversation.type === 'group') {
    panel.appendChild(h('button', { type: 'button', class: 'secondary small', onclick: () => addMemberDialog(conversation) }, 'Add people'));
  }
}

async function removeMember(conversation, member) {
  const leaving = member.user_id === ME;
  const answer = await dialog({
    title: leaving ? 'Leave this group?' : `Remove ${member.display_name || member.username}?`,
    body: h('p', {}, leaving ? 'You will stop receiving its messages.' : 'They will stop receiving this group’s messages.'),
    actions: [{ label: 'Cancel', value: 'cancel' }, { label: leaving ? 'Leave' : 'Remove', value: 'ok', primary: true }],
  });
  if (answer !== 'ok') return;
  try {
    await api.del(`conversations/${conversation.id}/members`, { user_id: member.user_id });
    if (leaving) {
      state.conversations.delete(conversation.id);
      navigate('/');
    } else {
      await fetchConversation(conversation.id);
      renderDetails();
      renderChatHead(state.conversations.get(conversation.id));
    }
  } catch (error) {
    toast(error.message, { kind: 'error' });
  }
}

async function pickPeople({ title, exclude = new Set(), multiple = true, action }) {
  const chosen = new Map();
  const results = h('ul', { class: 'pick-list' });
  const search = h('input', { type: 'search', id: 'pick-search', placeholder: 'Search by name', autocomplete: 'off' });
  const showUsers = (users) => {
    clear(results);
    for (const user of users) {
      if (exclude.has(user.id) || user.id === ME) continue;
      rememberUser(user);
      const id = `pick-${user.id}`;
      const box = h('input', { type: multiple ? 'checkbox' : 'radio', name: 'pick', id, checked: chosen.has(user.id) });
      box.addEventListener('change', () => {
        if (!multiple) chosen.clear();
        if (box.checked) chosen.set(user.id, user);
        else chosen.delete(user.id);
      });
      results.appendChild(h('li', {}, box, h('label', { for: id }, paintAvatar(h('span', { class: 'avatar small', 'aria-hidden': 'true' }), { name: user.display_name || user.username, url: user.avatar_url, seed: user.id }), h('span', {}, user.display_name || user.username), h('span', { class: 'muted' }, ` @${user.username}`))));
    }
    if (!results.firstChild) results.appendChild(h('li', { class: 'muted' }, 'Nobody found.'));
  };
  const friends = await loadFriends();
  showUsers(friends);
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = search.value.trim();
      if (!text) return showUsers(friends);
      try {
        const answer = await api.get(`users${query({ search: text })}`);
        showUsers(answer.results);
      } catch {
        /* keep the last list */
      }
    }, 200);
  });
  const extra = h('div', {});
  const content = h('div', { class: 'pick' }, extra, h('label', { for: 'pick-search' }, 'Find people (friends are listed first)'), search, results);
  const answer = await dialog({ title, body: content, actions: [{ label: 'Cancel', value: 'cancel' }, { label: action, value: 'ok', primary: true }], extra });
  return answer === 'ok' ? [...chosen.values()] : null;
}

async function loadFriends() {
  try {
    const answer = await api.get('friends?page_size=100');
    const users = answer.results.map((f) => f.user || f.friend || f);
    users.forEach(rememberUser);
    return users;
  } catch {
    return [];
  }
}

async function addMemberDialog(conversation) {
  const people = await pickPeople({ title: 'Add people', exclude: new Set(conversation.members.map((m) => m.user_id)), action: 'Add' });
  if (!people || !people.length) return;
  for (const person of people) {
    try {
      await api.post(`conversations/${conversation.id}/members`, { user_id: person.id });
    } catch (error) {
      toast(`${person.display_name || person.username}: ${error.message}`, { kind: 'error' });
    }
  }
  await fetchConversation(conversation.id);
  renderDetails();
  renderChatHead(state.conversations.get(conversation.id));
}

export async function startDirect(userId) {
  try {
    const conversation = adoptConversation(await api.post('conversations', { type: 'direct', user_id: userId }));
    navigate(`/c/${conversation.id}`);
  } catch (error) {
    toast(`Could not start the chat: ${error.message}`, { kind: 'error' });
  }
}

$('new-chat-button').addEventListener('click', async () => {
  const people = await pickPeople({ title: 'New chat', multiple: false, action: 'Chat' });
  if (people && people.length) startDirect(people[0].id);
});

$('new-group-button').addEventListener('click', async () => {
  const titleInput = h('input', { id: 'new-group-title', maxlength: '100', required: true });
  const people = await pickPeople({ title: 'New group', action: 'Create group' }).catch(() => null);
  if (!people) return;
  const name = await dialog({ title: 'Name the group', body: h('div', {}, h('label', { for: 'new-group-title' }, 'Group name'), titleInput), actions: [{ label: 'Cancel', value: 'cancel' }, { label: 'Create', value: 'ok', primary: true }] });
  if (name !== 'ok') return;
  try {
    const conversation = adoptConversation(await api.post('conversations', { type: 'group', title: titleInput.value.trim() || 'New group', member_ids: people.map((p) => p.id) }));
    navigate(`/c/${conversation.id}`);
  } catch (error) {
    toast(`Could not create the group: ${error.message}`, { kind: 'error' });
  }
});

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

async function start() {
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

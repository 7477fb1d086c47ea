// The chat view: history pages (newest, older on scrolling up, around a message for a jump),
// messages grouped by sender and day, ticks (receipts.js), the "New messages" divider, editing
// and deleting.

import { api, query } from './api.js';
import { $, clear, dayKey, dialog, formatClock, formatDay, formatFull, h, paintAvatar, renderBody, toast } from './dom.js';
import { idCompare } from './ids.js';
import { applyEntry } from './feed.js';
import { TICK_GLYPHS, tickState } from './receipts.js';
import { conversationTitle, fetchConversation, GROUP_GAP_MS, list, ME, otherMember, PAGE, state, userName, usernamesOf } from './model.js';
import { renderConversationList } from './conversation-list.js';
import { autosize, draftOf } from './composer.js';
import { closeDetails } from './details.js';
import { markRead, navigate, typingNames } from './app.js';

// ---------------------------------------------------------------- chat view

export async function openConversation(conversationId, jumpTo) {
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

export function renderChatHead(conversation) {
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
    const presence = status === 'online' ? 'Online' : status === 'away' ? 'Away' : status ? offline : `@${other?.username || ''}`;
    $('chat-subtitle').textContent = typingNames(conversation.id) ? 'typing…' : conversation.blocked ? 'Blocked: no messages either way' : presence;
  } else {
    paintAvatar(avatar, { name: conversationTitle(conversation), seed: `g${conversation.id}` });
    $('chat-subtitle').textContent = conversation.members.map((m) => (m.user_id === ME ? 'you' : m.display_name || m.username)).join(', ');
  }
  renderComposerOpen(conversation);
}

// no sends in a blocked direct conversation or an archived one: why, or '' when sends are open
function sendsClosedReason(conversation) {
  if (conversation?.blocked) return 'Sending is blocked here.';
  if (conversation?.archived) return 'Archived: read only.';
  return '';
}

// the composer of a conversation that takes no sends is disabled and says why
function renderComposerOpen(conversation) {
  const closed = sendsClosedReason(conversation);
  const input = $('composer-input');
  input.disabled = Boolean(closed);
  input.placeholder = closed || 'Write a message';
  $('send-button').disabled = Boolean(closed);
}

// a tick: its state as a glyph, and as words for title and aria-label ("Read by 2 of 3")
function ticks(tick) {
  const dataset = { state: tick.state };
  if (tick.of !== undefined) Object.assign(dataset, { read: String(tick.read), delivered: String(tick.delivered), of: String(tick.of) });
  return h('span', { class: `ticks ticks-${tick.state}`, role: 'img', 'aria-label': tick.label, title: tick.label, dataset }, TICK_GLYPHS[tick.state]);
}

const PENDING_TICK = { state: 'pending', label: 'Sending' };
const FAILED_TICK = { state: 'failed', label: 'Not sent' };

export function renderMessages({ stick }) {
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
  $('history-status').textContent = !messages.loaded ? 'Loading…' : messages.hasMoreBefore ? '' : messages.items.length ? 'This is the start of the conversation.' : sendsClosedReason(conversation) ? 'No messages.' : 'No messages yet. Say hello!';

  const { stored, pending } = messages.timeline();
  const rows = [
    ...stored.map((m) => ({ message: m, tick: m.sender_id === ME ? tickState(conversation, m.id, ME) : null })),
    ...(messages.hasMoreAfter ? [] : pending.map((p) => ({ message: { ...p, id: null, sender_id: ME, mentions: [], deleted: false }, tick: p.failed ? FAILED_TICK : PENDING_TICK }))),
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
    group.items.appendChild(messageRow(m, row.tick, usernames));
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

function messageRow(m, tick, usernames) {
  const mine = m.sender_id === ME;
  const bodyEl = h('div', { class: 'body' });
  if (m.deleted) bodyEl.appendChild(h('em', { class: 'deleted' }, 'This message was deleted'));
  else bodyEl.appendChild(renderBody(m.body, { usernames, myId: ME }));
  const meta = h(
    'span',
    { class: 'meta' },
    m.edited_at && !m.deleted ? h('span', { class: 'edited', title: `Edited ${formatFull(m.edited_at)}` }, 'edited') : null,
    h('time', { datetime: m.created_at, title: formatFull(m.created_at) }, formatClock(m.created_at)),
    mine && tick ? ticks(tick) : null,
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
  if (tick && tick.state === 'failed') {
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

// the answer of my own edit or delete: applied as the feed entry that will follow it would be
export function applyUpdate(message) {
  applyEntry(state, { type: 'message.updated', message });
  if (state.current === message.conversation_id) renderMessages({ stick: false });
  renderConversationList();
}

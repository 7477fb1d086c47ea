// The conversation list of the sidebar: order by last activity, previews, unread badges,
// presence dots, the filter; loading the list and the presence of direct-chat partners.

import { api, query } from './api.js';
import { $, clear, formatListTime, h, paintAvatar } from './dom.js';
import { activityTime, adoptConversation, conversationTitle, ME, otherMember, presenceDot, state, userName } from './model.js';
import { typingNames } from './app.js';

// ---------------------------------------------------------------- conversation list

export function renderConversationList() {
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
    presence = presenceDot(other?.user_id);
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

export async function loadConversations() {
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

export async function loadPresence() {
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

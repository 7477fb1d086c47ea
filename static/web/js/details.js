// The conversation details panel (members, rename, mute, add / remove / leave) and the people
// picker behind "New chat", "New group" and "Add people".

import { api, query } from './api.js';
import { $, clear, dialog, h, paintAvatar, toast } from './dom.js';
import { adoptConversation, fetchConversation, fetchSettled, ME, presenceDot, rememberUser, state } from './model.js';
import { renderConversationList } from './conversation-list.js';
import { renderChatHead } from './chat-view.js';
import { navigate } from './app.js';

// ---------------------------------------------------------------- details panel (members, rename)

export function closeDetails() {
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

/** Rebuilt when what it shows changed (a rename, a member added or removed, presence). */
export function renderDetailsIfOpen() {
  if (!$('chat-details').hidden) renderDetails();
}

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
            const renamed = await api.patch(`conversations/${conversation.id}`, { title: title.value.trim() });
            // a GET begun before the rename (the new group's first fetch) must not land after it
            await fetchSettled(conversation.id);
            adoptConversation(renamed);
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
        h('span', { class: 'avatar-wrap' }, paintAvatar(h('span', { class: 'avatar small', 'aria-hidden': 'true' }), { name: m.display_name || m.username, seed: m.user_id, url: state.users.get(m.user_id)?.avatar_url }), m.user_id === ME ? null : presenceDot(m.user_id)),
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

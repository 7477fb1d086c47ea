// The composer: Enter sends, Shift+Enter is a new line, drafts per conversation, typing
// notices, and the @mention autocomplete (a listbox driven from the keyboard).

import { $, clear, h } from './dom.js';
import { client, list, ME, state, TYPING_SEND_MS } from './model.js';
import { renderMessages } from './chat-view.js';

// ---------------------------------------------------------------- composer

export const drafts = new Map();
export function draftOf(conversationId) {
  return drafts.get(conversationId) ?? sessionStorage.getItem(`chat:draft:${conversationId}`) ?? '';
}

export function autosize() {
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

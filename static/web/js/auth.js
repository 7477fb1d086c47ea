// The log-in and sign-up forms: they post to the REST API with "session": true (a Django session
// for this browser), show the contract's field errors next to their fields, then open the app.

import { ApiError, api } from './api.js';

function showErrors(form, error) {
  const general = form.querySelector('.form-error');
  for (const p of form.querySelectorAll('.field-error')) {
    p.hidden = true;
    p.textContent = '';
  }
  for (const input of form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
  if (!error) {
    general.hidden = true;
    return;
  }
  let placed = false;
  for (const [field, messages] of Object.entries(error.fields || {})) {
    const slot = form.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`);
    const input = form.querySelector(`input[name="${CSS.escape(field)}"]`);
    if (slot) {
      slot.textContent = [].concat(messages).join(' ');
      slot.hidden = false;
      placed = true;
    }
    if (input) input.setAttribute('aria-invalid', 'true');
  }
  general.textContent = placed && error.code === 'invalid' ? 'Please correct the fields below.' : error.message;
  general.hidden = false;
}

function values(form) {
  const data = {};
  for (const input of form.querySelectorAll('input[name]')) data[input.name] = input.value;
  return data;
}

async function submit(form, path, body, next) {
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  showErrors(form, null);
  try {
    await api.post(path, { ...body, session: true, device_name: navigator.userAgent.slice(0, 60) });
    window.location.assign(next || '/');
  } catch (error) {
    showErrors(form, error instanceof ApiError ? error : new ApiError(0, null));
    button.disabled = false;
  }
}

const login = document.getElementById('login-form');
if (login) {
  login.addEventListener('submit', (event) => {
    event.preventDefault();
    const { username, password } = values(login);
    submit(login, 'auth/login', { username: username.trim(), password }, login.dataset.next);
  });
}

const register = document.getElementById('register-form');
if (register) {
  register.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = values(register);
    const body = { username: data.username.trim(), email: data.email.trim(), password: data.password };
    if (data.display_name.trim()) body.display_name = data.display_name.trim();
    submit(register, 'auth/register', body, '/');
  });
}

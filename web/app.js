// The console's shell: sign-in, the navigation that follows the key's role, and a hash router
// (#/modules, #/modules/<id>, #/modules/<id>/versions, #/keys, #/live). Nothing is requested
// before sign-in: the page and its scripts are open, every API call carries the key.
import { ApiError, forgetKey, keyId, storedKey, storeKey, whenUnauthorized, whoIs } from './api.js';
import { announce, errorBox, field, h, replace } from './dom.js';
import { keysPage } from './keys.js';
import { livePage } from './live.js';
import { modulePage } from './module.js';
import { modulesPage } from './modules.js';
import { versionsPage } from './versions.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const whoBox = document.getElementById('who');
let who = null;
/** The current page's cleanup (the live page stops polling and closes its stream). */
let leave = () => {};

function signInPage(message) {
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false', required: true });
  const problem = h('div', { id: 'signin-problem' });
  if (message) problem.append(errorBox(message));
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in to Wess'),
    field('API key', input, 'A key looks like wess_<id>_<secret>. It is kept in this tab only (sessionStorage) and sent in the Authorization header.'),
    problem,
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    replace(problem);
    if (!keyId(key)) {
      replace(problem, errorBox({ message: 'That is not an API key: a key looks like wess_<id>_<secret> (id: 4-32 of 0-9 a-z; secret: 20 or more of A-Z a-z 0-9 _ -).' }));
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      who = await whoIs(key);
      storeKey(key);
      input.value = '';
      shell();
      if (!location.hash || location.hash === '#/') location.hash = '#/modules';
      else route();
    } catch (err) {
      const why = err instanceof ApiError && err.status === 401 ? { code: err.code, message: `Wess did not accept this key: ${err.message}.` } : err;
      replace(problem, errorBox(why));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(nav);
  replace(whoBox);
  replace(main, form);
  input.focus();
}

function signOut(message) {
  forgetKey();
  // The next key starts at the module list, not on a page of what the last key could see.
  history.replaceState(null, '', location.pathname);
  who = null;
  leave();
  leave = () => {};
  signInPage(message);
}

/** The header: navigation for what this key may do, and who is signed in. */
function shell() {
  const links = [['#/modules', 'Modules']];
  links.push(['#/keys', who.managesKeys ? 'Keys' : 'Usage']);
  links.push(['#/live', 'Live']);
  replace(nav, h('ul', {}, links.map(([href, text]) => h('li', {}, h('a', { href, 'data-nav': href }, text)))));
  replace(whoBox,
    h('span', { class: 'who' }, `${who.name ? `${who.name} · ` : ''}${who.id} · ${who.roleKnown ? who.role : 'runner or module-scoped'} · tenant ${who.tenant}`),
    h('button', { type: 'button', class: 'link', onclick: () => signOut() }, 'Sign out'));
}

const ROUTES = [
  [/^#\/modules\/([0-9a-f-]{36})\/versions$/, (m) => versionsPage(main, who, m[1])],
  [/^#\/modules\/([0-9a-f-]{36})(?:\?version=(\d+))?$/, (m) => modulePage(main, who, m[1], m[2] ? Number(m[2]) : undefined)],
  [/^#\/keys$/, () => keysPage(main, who)],
  [/^#\/live$/, () => livePage(main, who)],
  [/^#\/modules$/, () => modulesPage(main, who)],
];

async function route() {
  if (!who) return;
  leave();
  leave = () => {};
  const hash = location.hash || '#/modules';
  for (const link of nav.querySelectorAll('a')) {
    if (hash.startsWith(link.dataset.nav)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const match = ROUTES.map(([pattern, page]) => [pattern.exec(hash), page]).find(([m]) => m);
  replace(main);
  try {
    if (!match) {
      replace(main, h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, h('a', { href: '#/modules' }, 'Back to the modules')));
    } else {
      leave = (await match[1](match[0])) ?? (() => {});
    }
  } catch (err) {
    // A refused key has already been signed out (and the sign-in form says why).
    if (!who) return;
    main.append(errorBox(err));
  }
  const title = main.querySelector('h1');
  if (title) {
    title.tabIndex = -1;
    document.title = `${title.textContent} · Wess console`;
    title.focus();
    announce(title.textContent);
  }
}

whenUnauthorized((err) => signOut({ code: err.code, message: `Signed out: Wess no longer accepts this key (${err.message}).` }));
window.addEventListener('hashchange', route);

async function start() {
  const key = storedKey();
  if (!key) return signInPage();
  try {
    who = await whoIs(key);
  } catch (err) {
    forgetKey();
    return signInPage(err);
  }
  shell();
  return route();
}
start();

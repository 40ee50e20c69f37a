// The modules page: the list (search, a tenant column and filter for admins, pages of 20) and,
// for keys that may upload, the upload form with its inspection report.
import { api } from './api.js';
import { bytes, errorBox, field, h, replace, when } from './dom.js';
import { createModule, uploadForm } from './inspect.js';

const PAGE = 20;
/** A search reads at most this many modules (the API lists, it does not search). */
const SEARCH_LIMIT = 1000;

/** Whether this key may create modules (runners and keys narrowed to named modules may not). */
export function mayWrite(who) {
  return (who.role === 'admin' || who.role === 'developer') && who.modules === null;
}

/** The modules page, in `main`, for the signed-in key `who`. */
export async function modulesPage(main, who) {
  const admin = who.role === 'admin';
  const search = h('input', { type: 'search', name: 'search', placeholder: 'name or id' });
  const tenantFilter = h('input', { type: 'text', name: 'tenant', placeholder: 'all tenants' });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  const tableBox = h('div', { class: 'table-wrap' });
  const prev = h('button', { type: 'button' }, 'Previous page');
  const next = h('button', { type: 'button' }, 'Next page');
  /** Server pages: the cursor of each page seen so far. */
  const cursors = [null];
  let page = 0;
  let items = [];
  let nextCursor = null;
  /** While searching: every match, paged here (the API has no search, so the console reads the list). */
  let matches = null;

  const table = (shown) => {
    const head = ['Name', ...(admin ? ['Tenant'] : []), 'Version', 'Kind', 'Size', 'Exports', 'Updated'];
    return h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Modules'),
      h('thead', {}, h('tr', {}, head.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, shown.map((m) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `#/modules/${m.id}` }, m.name), h('br'), h('code', { class: 'id' }, m.id)),
        admin ? h('td', {}, m.tenant) : null,
        h('td', {}, m.version),
        h('td', {}, m.kind),
        h('td', {}, bytes(m.size)),
        h('td', {}, m.exports.map((fn) => fn.name).join(', ') || '—'),
        h('td', {}, when(m.updated_at))))));
  };

  const render = () => {
    const shown = matches ? matches.found.slice(page * PAGE, (page + 1) * PAGE) : items;
    if (matches) {
      const pages = Math.max(Math.ceil(matches.found.length / PAGE), 1);
      const partial = matches.truncated ? ` (searched the first ${matches.scanned} modules)` : ` (searched all ${matches.scanned})`;
      const n = matches.found.length;
      replace(status, `${n} ${n === 1 ? 'module matches' : 'modules match'} “${matches.term}”${partial}. Page ${page + 1} of ${pages}.`);
      next.disabled = (page + 1) * PAGE >= matches.found.length;
    } else {
      replace(status, `Page ${page + 1}: ${items.length} modules.`);
      next.disabled = !nextCursor;
    }
    prev.disabled = page === 0;
    replace(tableBox, shown.length ? table(shown) : h('p', {}, matches ? 'No module matches.' : 'No modules yet.'));
  };

  const query = (limit, cursor) => {
    const params = new URLSearchParams({ limit: String(limit) });
    if (cursor) params.set('cursor', cursor);
    if (admin && tenantFilter.value.trim()) params.set('tenant', tenantFilter.value.trim());
    return `/modules?${params}`;
  };

  const load = async () => {
    try {
      if (matches) return render();
      const list = await api(query(PAGE, cursors[page]));
      items = list.items;
      nextCursor = list.next_cursor;
      cursors[page + 1] = nextCursor;
      return render();
    } catch (err) {
      return replace(tableBox, errorBox(err));
    }
  };

  /** Names and ids containing the search term, over the first SEARCH_LIMIT modules. */
  const runSearch = async () => {
    const term = search.value.trim();
    page = 0;
    cursors.length = 1;
    matches = null;
    if (!term) return load();
    const found = [];
    let scanned = 0;
    let cursor = null;
    try {
      do {
        const list = await api(query(100, cursor));
        scanned += list.items.length;
        found.push(...list.items.filter((m) => m.name.toLowerCase().includes(term.toLowerCase()) || m.id.includes(term.toLowerCase())));
        cursor = list.next_cursor;
      } while (cursor && scanned < SEARCH_LIMIT);
    } catch (err) {
      return replace(tableBox, errorBox(err));
    }
    matches = { term, found, scanned, truncated: cursor !== null };
    return render();
  };

  prev.addEventListener('click', () => {
    page -= 1;
    load();
  });
  next.addEventListener('click', () => {
    page += 1;
    load();
  });
  // The search field's clear button (or emptying it) goes back to the plain list.
  search.addEventListener('search', () => search.value.trim() || runSearch());
  tenantFilter.addEventListener('change', runSearch);

  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Modules', onsubmit: (event) => {
    event.preventDefault();
    runSearch();
  } },
  field('Search modules', search, 'Name or id; Enter searches every page'),
  admin ? field('Tenant', tenantFilter, 'Blank: every tenant') : null,
  h('div', { class: 'filter-actions' }, h('button', { type: 'submit' }, 'Search')));
  const tenantInput = h('input', { type: 'text', name: 'upload-tenant', placeholder: who.tenant });
  const upload = mayWrite(who)
    ? uploadForm({
      title: 'Upload a module',
      button: 'Upload',
      extra: admin ? [field('For tenant', tenantInput, `Blank: your own tenant (${who.tenant})`)] : [],
      send: async (file, name, type) => {
        const module = await createModule(file, name, type, admin ? tenantInput.value.trim() : '');
        await load();
        return module;
      },
    })
    : h('p', { class: 'hint' }, 'This key may read and run modules, not upload them.');
  replace(main,
    h('h1', {}, 'Modules'),
    h('div', { class: 'columns' },
      h('section', { class: 'card list', 'aria-labelledby': 'list-title' },
        h('h2', { id: 'list-title' }, admin ? 'Every tenant’s modules' : `Modules of tenant ${who.tenant}`),
        filters, status, tableBox,
        h('div', { class: 'pager' }, prev, next)),
      upload));
  await load();
}

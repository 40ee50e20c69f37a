// The modules page: the list (search, a tenant column and filter for admins, pages of 20) and,
// for keys that may upload, the upload form with its inspection report.
import { api } from './api.js';
import { bytes, errorBox, field, h, replace, when } from './dom.js';
import { createModule, uploadForm } from './inspect.js';

const PAGE = 20;

/** Whether this key may create modules (runners and keys narrowed to named modules may not). */
export function mayWrite(who) {
  return (who.role === 'admin' || who.role === 'developer') && who.modules === null;
}

export async function modulesPage(main, who) {
  const admin = who.role === 'admin';
  const search = h('input', { type: 'search', name: 'search', placeholder: 'name or id' });
  const tenantFilter = h('input', { type: 'text', name: 'tenant', placeholder: 'all tenants' });
  const status = h('p', { class: 'hint', 'aria-live': 'polite' });
  const tableBox = h('div', { class: 'table-wrap' });
  const prev = h('button', { type: 'button' }, 'Previous page');
  const next = h('button', { type: 'button' }, 'Next page');
  const cursors = [null];
  let page = 0;
  let items = [];
  let nextCursor = null;

  const render = () => {
    const term = search.value.trim().toLowerCase();
    const shown = items.filter((m) => !term || m.name.toLowerCase().includes(term) || m.id.includes(term));
    replace(status, `Page ${page + 1}: ${shown.length} of ${items.length} modules${term ? ` match “${search.value.trim()}”` : ''}.`);
    prev.disabled = page === 0;
    next.disabled = !nextCursor;
    if (!shown.length) return replace(tableBox, h('p', {}, items.length ? 'No module on this page matches.' : 'No modules yet.'));
    const head = ['Name', ...(admin ? ['Tenant'] : []), 'Version', 'Kind', 'Size', 'Exports', 'Updated'];
    return replace(tableBox, h('table', {},
      h('caption', { class: 'visually-hidden' }, 'Modules'),
      h('thead', {}, h('tr', {}, head.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, shown.map((m) => h('tr', {},
        h('th', { scope: 'row' }, h('a', { href: `#/modules/${m.id}` }, m.name), h('br'), h('code', { class: 'id' }, m.id)),
        admin ? h('td', {}, m.tenant) : null,
        h('td', {}, m.version),
        h('td', {}, m.kind),
        h('td', {}, bytes(m.size)),
        h('td', {}, m.exports.map((fn) => fn.name).join(', ') || '—'),
        h('td', {}, when(m.updated_at)))))));
  };

  const load = async () => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (cursors[page]) query.set('cursor', cursors[page]);
    if (admin && tenantFilter.value.trim()) query.set('tenant', tenantFilter.value.trim());
    try {
      const list = await api(`/modules?${query}`);
      items = list.items;
      nextCursor = list.next_cursor;
      cursors[page + 1] = nextCursor;
      render();
    } catch (err) {
      replace(tableBox, errorBox(err));
    }
  };
  prev.addEventListener('click', () => {
    page -= 1;
    load();
  });
  next.addEventListener('click', () => {
    page += 1;
    load();
  });
  search.addEventListener('input', render);
  tenantFilter.addEventListener('change', () => {
    page = 0;
    cursors.length = 1;
    load();
  });

  const filters = h('form', { class: 'filters', role: 'search', onsubmit: (event) => event.preventDefault() },
    field('Search this page', search),
    admin ? field('Tenant', tenantFilter, 'Blank: every tenant') : null);
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

// One module: its inspection report and the run form, generated from the chosen export's
// signature (single or batch calls), or for a WASI program args, env, stdin and output panes.
import { api } from './api.js';
import { errorBox, field, h, replace, signature, whileBusy } from './dom.js';
import { inspection } from './inspect.js';

/** An input for one parameter: i32 a whole number, f32/f64 any number, i64 text (it can exceed a double). */
function paramInput(type, index) {
  const props = { name: `arg${index}`, required: true, 'data-type': type };
  if (type === 'i32') return h('input', { ...props, type: 'number', step: '1', inputmode: 'numeric' });
  if (type === 'f32' || type === 'f64') return h('input', { ...props, type: 'number', step: 'any', inputmode: 'decimal' });
  return h('input', { ...props, type: 'text', inputmode: 'numeric', pattern: '-?[0-9]+', autocomplete: 'off' });
}

/** A typed value as the API takes it: numbers for i32/f32/f64, strings for i64 (and what is not a number, for the API to explain). */
function value(type, text) {
  const trimmed = text.trim();
  if (type === 'i64' || trimmed === '' || Number.isNaN(Number(trimmed))) return trimmed;
  return Number(trimmed);
}

/** The stats of a run answer, every field the API gave (duration, cpu, queue wait, memory, fuel, version...). */
function statsTable(stats) {
  return h('table', { class: 'stats' },
    h('caption', {}, 'Stats'),
    h('tbody', {}, Object.entries(stats).map(([name, v]) => h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, v === null ? '—' : String(v))))));
}

/** stdout and stderr panes, for a WASI program's run or a reactor's call that printed. */
function outputPanes(answer) {
  return h('div', { class: 'panes' },
    h('section', { 'aria-label': 'stdout' }, h('h3', {}, 'stdout'), h('pre', { class: 'pane', tabindex: '0' }, answer.stdout ?? answer.stdout_base64 ?? '')),
    h('section', { 'aria-label': 'stderr' }, h('h3', {}, 'stderr'), h('pre', { class: 'pane', tabindex: '0' }, answer.stderr ?? answer.stderr_base64 ?? '')));
}

const printed = (answer) => ['stdout', 'stderr', 'stdout_base64', 'stderr_base64'].some((name) => answer[name] !== undefined);

function functionsResult(answer) {
  const output = printed(answer) ? outputPanes(answer) : null;
  if (answer.batch) {
    return [h('ol', { class: 'batch' }, answer.batch.map((item) => h('li', {},
      item.error ? h('span', { class: 'error-text' }, `${item.error.code}: ${item.error.message}`) : h('output', {}, item.results.join(', ') || '(no results)')))),
    output, statsTable(answer.stats)];
  }
  return [h('p', { class: 'results' }, 'Results: ', h('output', { class: 'result-value' }, answer.results.length ? answer.results.join(', ') : '(none)')), output, statsTable(answer.stats)];
}

function wasiResult(answer) {
  return [
    h('p', {}, `Exit code: ${answer.exit_code}`),
    outputPanes(answer),
    statsTable(answer.stats),
  ];
}

/** Lines of `text`, blank ones dropped. */
function lines(text) {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

function functionsForm(module, fields, state) {
  const exportsWithParams = module.exports;
  const select = h('select', { name: 'function' }, exportsWithParams.map((fn) => h('option', { value: fn.name }, signature(fn))));
  const argsBox = h('div', { class: 'args' });
  const batchBox = h('textarea', { name: 'batch', rows: '4' });
  const modeSingle = h('input', { type: 'radio', name: 'mode', value: 'single', id: 'mode-single', checked: true });
  const modeBatch = h('input', { type: 'radio', name: 'mode', value: 'batch', id: 'mode-batch' });
  const batchField = field('Batch: one call per line, arguments separated by commas', batchBox, 'e.g. "1, 2" then "3, 4": each line runs on a fresh instance');
  const chosen = () => module.exports.find((fn) => fn.name === select.value) ?? module.exports[0];
  const renderArgs = () => {
    const fn = chosen();
    replace(argsBox, fn.params.length ? fn.params.map((type, i) => field(`Argument ${i + 1} (${type})`, paramInput(type, i))) : h('p', { class: 'hint' }, 'This function takes no arguments.'));
  };
  const syncMode = () => {
    argsBox.hidden = modeBatch.checked;
    batchField.hidden = !modeBatch.checked;
    for (const input of argsBox.querySelectorAll('input')) input.required = !modeBatch.checked;
  };
  select.addEventListener('change', renderArgs);
  modeSingle.addEventListener('change', syncMode);
  modeBatch.addEventListener('change', syncMode);
  renderArgs();
  syncMode();
  fields.append(field('Function', select),
    h('fieldset', { class: 'mode' }, h('legend', {}, 'Calls'),
      modeSingle, h('label', { for: 'mode-single' }, 'One call'),
      modeBatch, h('label', { for: 'mode-batch' }, 'Batch')),
    argsBox, batchField);
  state.body = () => {
    const fn = chosen();
    if (modeBatch.checked) {
      const batch = lines(batchBox.value).map((line) => line.split(',').map((part, i) => value(fn.params[i] ?? 'i64', part)));
      if (!batch.length) throw new Error('Write at least one line of arguments for the batch.');
      return { function: fn.name, batch };
    }
    const args = [...argsBox.querySelectorAll('input')].map((input) => value(input.dataset.type, input.value));
    return { function: fn.name, args };
  };
  state.render = functionsResult;
}

function wasiForm(fields, state) {
  const args = h('textarea', { name: 'wasi-args', rows: '3' });
  const env = h('textarea', { name: 'wasi-env', rows: '3' });
  const stdin = h('textarea', { name: 'wasi-stdin', rows: '4' });
  fields.append(field('Arguments, one per line', args, 'argv[1], argv[2], ... (argv[0] is the module name)'),
    field('Environment, one NAME=value per line', env),
    field('Standard input', stdin));
  state.body = () => {
    const environment = {};
    for (const line of lines(env.value)) {
      const at = line.indexOf('=');
      if (at < 1) throw new Error(`Environment line "${line}" is not NAME=value.`);
      environment[line.slice(0, at)] = line.slice(at + 1);
    }
    return { args: lines(args.value), env: environment, stdin: stdin.value };
  };
  state.render = wasiResult;
}

/** The run form of `module` (the pinned `version` when given: ?version=N). */
function runForm(module, version) {
  const fields = h('div', { class: 'fields' });
  const state = {};
  // A WASI command runs _start with args, env and stdin; a reactor (no _start) is called like any module.
  const command = module.kind === 'wasi' && (module.exports.some((fn) => fn.name === '_start') || !module.exports.length);
  if (command) wasiForm(fields, state);
  else if (module.exports.length) functionsForm(module, fields, state);
  else return h('p', {}, 'This module exports no functions to run.');
  const versionInput = h('input', { type: 'number', name: 'version', min: '1', max: String(module.version), step: '1', value: version ?? '' });
  const fuelInput = h('input', { type: 'number', name: 'fuel', min: '1', step: '1' });
  const timeoutInput = h('input', { type: 'number', name: 'timeout', min: '1', step: '1' });
  const result = h('div', { class: 'run-result', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Run');
  const form = h('form', { class: 'card run', 'aria-labelledby': 'run-title' },
    h('h2', { id: 'run-title' }, 'Run'),
    fields,
    field('Version', versionInput, `Blank: the current version (${module.version}); an older number runs that version, pinned`),
    h('div', { class: 'inline' },
      field('Fuel', fuelInput, 'Optional: meter the run and stop it after this much (stats show fuel_used)'),
      field('Deadline (ms)', timeoutInput, 'Optional: at most your tier\'s limit')),
    submit, result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(result);
    let body;
    try {
      body = state.body();
      if (fuelInput.value) body.fuel = Number(fuelInput.value);
      if (timeoutInput.value) body.timeout_ms = Number(timeoutInput.value);
    } catch (err) {
      return replace(result, errorBox(err));
    }
    const pinned = versionInput.value ? `?version=${encodeURIComponent(versionInput.value)}` : '';
    await whileBusy(submit, result, async () => state.render(await api(`/modules/${module.id}/run${pinned}`, { method: 'POST', body })));
    return undefined;
  });
  return form;
}

/** One module's page: its run form (pinned to `version` when given) and inspection report. */
export async function modulePage(main, _who, id, version) {
  const current = await api(`/modules/${id}`);
  // A pinned version's form follows that version's own exports.
  const module = version ? { ...current, ...(await api(`/modules/${id}/versions/${version}`)), id, version: current.version } : current;
  replace(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/modules' }, 'Modules'), ' / ', module.name),
    h('h1', {}, module.name),
    h('p', {}, h('a', { href: `#/modules/${id}/versions` }, `Versions (${module.version})`)),
    h('div', { class: 'columns' }, runForm(module, version), inspection(version ? { ...module, version } : module)));
}

// The workflows page: each workflow the server runs, its graph drawn by the
// server as SVG, its schedules with their next and last fire time, and a
// form that starts a run from a JSON input.
'use strict';

(() => {
  const { el, json, text, call, clear, importSvg } = Maestro;
  const list = document.getElementById('workflows');

  async function start(name, area, out) {
    let input;
    try {
      input = JSON.parse(area.value);
    } catch (e) {
      out.className = 'error';
      out.textContent = 'The input is not JSON: ' + e.message;
      return;
    }
    const response = await call('POST', '/v1/workflows/' + encodeURIComponent(name) + '/runs', { input });
    const body = await response.json().catch(() => ({}));
    clear(out);
    if (response.ok && body.run_id) {
      out.className = 'notice';
      out.append('Started ', Maestro.runLink(body.run_id));
    } else if (body.error && body.error.violations) {
      // The input_schema's verdict: one line per violation, where and what.
      out.className = 'error';
      out.append('The input does not match the workflow\'s input_schema:',
        el('ul', { class: 'violations' }, ...body.error.violations.map((v) =>
          el('li', {}, el('code', {}, v.path || '/'), ' ', v.message))));
    } else {
      out.className = 'error';
      out.textContent = (body.error && body.error.message) || 'HTTP ' + response.status;
    }
  }

  function schedules(list) {
    if (!list.length) return null;
    const row = (s) => el('tr', {},
      el('td', {}, s.expression), el('td', {}, s.timezone), el('td', {}, s.overlap),
      el('td', {}, s.next_fire || 'never'), el('td', {}, s.last_fire || '—'));
    return el('table', { class: 'schedules' },
      el('thead', {}, el('tr', {}, ...['Schedule', 'Zone', 'Overlap', 'Next fire', 'Last fire'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...list.map(row)));
  }

  // What the schema asks for, said next to the input box.
  function expects(schema) {
    if (!schema || typeof schema !== 'object') return 'Input (JSON)';
    const required = Array.isArray(schema.required) ? schema.required : [];
    return required.length ? 'Input (JSON; required: ' + required.join(', ') + ')' : 'Input (JSON)';
  }

  function card(w, scheduled) {
    const graph = el('div', { class: 'graph-box' }, 'drawing…');
    const area = el('textarea', { name: 'input', spellcheck: 'false' }, '{}');
    const out = el('div', { class: 'notice', role: 'status' });
    const form = el('form', { class: 'start' },
      el('label', {}, expects(w.input_schema)), area,
      el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Start a run')), out);
    form.addEventListener('submit', (e) => { e.preventDefault(); start(w.name, area, out); });
    text('/v1/workflows/' + encodeURIComponent(w.name) + '/graph.svg')
      .then((source) => graph.replaceChildren(importSvg(source)))
      .catch((e) => { graph.textContent = 'No graph: ' + e.message; });
    return el('section', { class: 'card', 'data-workflow': w.name },
      el('h2', {}, w.name, w.version ? ' · v' + w.version : ''),
      el('p', { class: 'notice' }, w.file + ' · services: ' + w.services.join(', ')),
      graph, schedules(scheduled.filter((s) => s.workflow === w.name)), form);
  }

  Promise.all([json('/v1/workflows'), json('/v1/schedules').catch(() => ({ schedules: [] }))])
    .then(([body, sched]) => {
      list.className = '';
      list.replaceChildren(...body.workflows.map((w) => card(w, sched.schedules)));
    })
    .catch((e) => { list.textContent = 'Cannot list workflows: ' + e.message; });
})();

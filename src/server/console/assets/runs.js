// The runs page: GET /v1/runs a page at a time (its cursor), filtered by
// workflow, status, time range and id prefix on the server, and kept
// current from /v1/events without reloading.
'use strict';

(() => {
  const { el, json, follow, badge, when, runLink, clear } = Maestro;
  const form = document.getElementById('filters');
  const body = document.getElementById('runs-body');
  const more = document.getElementById('more');
  const status = document.getElementById('runs-status');
  let cursor = null;
  let stop = null;
  let pending = null;

  // Runs per page: 50, or the page address's `?limit=`.
  const limit = new URLSearchParams(window.location.search).get('limit') || '50';

  function query(after) {
    const params = new URLSearchParams({ limit });
    const { workflow, status: state, prefix, from, to } = form.elements;
    if (workflow.value) params.set('workflow', workflow.value);
    if (state.value) params.set('status', state.value);
    if (prefix.value.trim()) params.set('id_prefix', prefix.value.trim());
    // The page's times are local; the API takes RFC 3339.
    const instant = (input) => new Date(input.value).toISOString();
    if (from.value) params.set('since', instant(from));
    if (to.value) params.set('until', instant(to));
    if (after) params.set('cursor', after);
    return '/v1/runs?' + params.toString();
  }

  function row(run) {
    return el('tr', { 'data-run': run.run_id },
      el('td', {}, runLink(run.run_id)),
      el('td', {}, run.workflow),
      el('td', { class: 'status' }, badge(run.status)),
      el('td', {}, when(run.submitted_at)),
      el('td', { class: 'error' }, run.error || ''));
  }

  function rowOf(id) {
    return Array.from(body.rows).find((r) => r.dataset.run === id);
  }

  async function load(reset) {
    try {
      const page = await json(query(reset ? null : cursor));
      if (reset) clear(body);
      for (const run of page.runs) body.append(row(run));
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      status.textContent = body.rows.length ? '' : 'No runs match.';
    } catch (e) {
      status.textContent = 'Cannot list runs: ' + e.message;
    }
  }

  // A run event: the newest page again, rows replaced or added on top.
  async function refresh() {
    try {
      const page = await json(query(null));
      const fresh = page.runs;
      let top = body.firstChild;
      for (const run of fresh) {
        const old = rowOf(run.run_id);
        const line = row(run);
        if (old) { old.replaceWith(line); top = line.nextSibling; } else { body.insertBefore(line, top); }
      }
      if (!cursor) { cursor = page.next_cursor || null; more.hidden = !cursor; }
      status.textContent = body.rows.length ? '' : 'No runs match.';
    } catch (e) {
      status.textContent = 'Cannot list runs: ' + e.message;
    }
  }

  function listen() {
    if (stop) stop();
    const workflow = form.elements.workflow.value;
    const path = '/v1/events' + (workflow ? '?workflow=' + encodeURIComponent(workflow) : '');
    stop = follow(path, (event) => {
      if (event.type !== 'run' && event.type !== 'lagged') return;
      clearTimeout(pending);
      pending = setTimeout(refresh, 150);
    });
  }

  async function workflows() {
    try {
      const list = await json('/v1/workflows');
      for (const w of list.workflows) form.elements.workflow.append(el('option', { value: w.name }, w.name));
    } catch (e) { /* the list still works unfiltered */ }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); load(true); listen(); });
  form.addEventListener('change', () => { load(true); listen(); });
  more.addEventListener('click', () => load(false));
  workflows().then(() => { load(true); listen(); });
})();

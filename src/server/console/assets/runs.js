// The runs page: GET /v1/runs a page at a time (its cursor), filtered by
// workflow and status on the server and by time range and id prefix here,
// and kept current from /v1/events without reloading.
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
    const { workflow, status: state } = form.elements;
    if (workflow.value) params.set('workflow', workflow.value);
    if (state.value) params.set('status', state.value);
    if (after) params.set('cursor', after);
    return '/v1/runs?' + params.toString();
  }

  // The filters the API does not take, applied to each page.
  function shown(run) {
    const { prefix, from, to } = form.elements;
    if (prefix.value && !run.run_id.startsWith(prefix.value.trim())) return false;
    const at = Date.parse(run.submitted_at);
    if (from.value && at < Date.parse(from.value)) return false;
    if (to.value && at > Date.parse(to.value)) return false;
    return true;
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
      for (const run of page.runs.filter(shown)) body.append(row(run));
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
      const fresh = page.runs.filter(shown);
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

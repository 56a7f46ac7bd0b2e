// A run's page: its status, input, output and errors from the API, its
// timeline and event list from its events (history first, then live), its
// workflow's graph coloured by each step's outcome, and the buttons and
// signal form the API allows.
'use strict';

(() => {
  const { el, json, text, call, follow, badge, when, clear, pretty, importSvg, runLink } = Maestro;
  const id = document.body.dataset.run;
  const path = '/v1/runs/' + encodeURIComponent(id);
  const $ = (name) => document.getElementById(name);
  const events = new Map();
  let view = null;
  let graph = null;
  let pending = null;

  function message(textValue, isError) {
    $('run-message').textContent = textValue;
    $('run-message').className = isError ? 'error' : 'notice';
  }

  function details() {
    const dl = $('details');
    clear(dl);
    const add = (key, value) => dl.append(el('dt', {}, key), el('dd', {}, value));
    add('workflow', view.workflow);
    if (view.retry_of) add('retry of', runLink(view.retry_of));
    add('status', badge(view.status));
    add('submitted', when(view.submitted_at));
    add('duration', view.duration);
    if (view.error) add('error', el('span', { class: 'error' }, view.error));
    clear($('output'));
    const open = view.status === 'running' || view.status === 'queued';
    const none = el('p', { class: 'notice' }, open ? 'none yet' : 'none');
    $('output').append(view.output === undefined ? none : pretty(view.output));
  }

  function steps() {
    const body = $('steps');
    clear(body);
    const paused = pauses();
    for (const s of view.steps) {
      const note = s.outcome === 'waiting' && paused.has(s.id)
        ? el('span', { class: 'pause-note' }, ' ' + EventLog.pause(paused.get(s.id))) : null;
      body.append(el('tr', { 'data-step': s.id },
        el('td', { class: 'mono' }, s.id), el('td', {}, s.service ? s.service + ': ' + s.method : s.method),
        el('td', {}, badge(s.outcome), note), el('td', {}, String(s.attempts)), el('td', {}, s.duration),
        el('td', { class: 'mono' }, s.request || ''), el('td', { class: 'error' }, s.error || '')));
    }
    const undo = $('compensations');
    clear(undo);
    for (const c of view.compensations) {
      undo.append(el('tr', { 'data-step': c.step },
        el('td', { class: 'mono' }, c.step), el('td', {}, badge(c.ok ? 'ok' : 'failed')),
        el('td', {}, String(c.attempts)), el('td', { class: 'mono' }, c.request || ''),
        el('td', { class: 'error' }, c.error || '')));
    }
    $('no-compensations').hidden = view.compensations.length > 0;
  }

  async function drawGraph() {
    if (!graph) {
      try {
        const source = await text('/v1/workflows/' + encodeURIComponent(view.workflow) + '/graph.svg');
        graph = importSvg(source);
        $('graph').replaceChildren(graph);
      } catch (e) {
        $('graph').textContent = 'No graph: ' + e.message;
        return;
      }
    }
    const outcomes = new Map(view.steps.map((s) => [s.id, s.outcome]));
    for (const node of graph.querySelectorAll('g[data-step]')) {
      const outcome = outcomes.get(node.dataset.step) || 'not_run';
      if (!node.dataset.shape) node.dataset.shape = node.getAttribute('class');
      node.setAttribute('class', node.dataset.shape + ' o-' + outcome);
    }
  }

  // Each step's latest sleep or wait, by step id.
  function pauses() {
    const found = new Map();
    const ordered = Array.from(events.values()).sort((a, b) => a.seq - b.seq);
    for (const e of ordered) {
      if (e.event === 'timer_started' || e.event === 'wait_started') found.set(e.step, e);
    }
    return found;
  }

  // The signal the run's waiting step waits for: from its event, or from
  // the step's label (`wait NAME`) until the event arrives.
  function waitingFor() {
    const paused = pauses();
    for (const s of view.steps.filter((s) => s.outcome === 'waiting')) {
      const e = paused.get(s.id);
      if (e && e.event === 'wait_started') return e.signal;
      if (!e && s.method.startsWith('wait ')) return s.method.slice(5);
    }
    return undefined;
  }

  function buttons() {
    const open = view.status === 'running' || view.status === 'queued';
    $('cancel').disabled = !open;
    $('again').disabled = !input();
    actions(view, waitingFor());
  }

  function input() {
    const started = events.get(0);
    return started && started.event === 'run_started' ? started.input : undefined;
  }

  function timeline() {
    const ordered = Array.from(events.values()).sort((a, b) => a.seq - b.seq);
    const i = input();
    if (i !== undefined && !$('input').firstChild) $('input').append(pretty(i));
    const drawn = /^(attempt|compensation|timer_started|wait_started)/;
    if (ordered.some((e) => drawn.test(e.event))) Gantt.draw($('timeline'), ordered, Date.now());
  }

  async function refresh() {
    try {
      view = await json(path);
    } catch (e) {
      message('Cannot read the run: ' + e.message, true);
      return;
    }
    $('run-status').replaceChildren(badge(view.status));
    details();
    steps();
    buttons();
    EventLog.draw($('events'), $('events-note'), Array.from(events.values()).sort((a, b) => a.seq - b.seq));
    await drawGraph();
  }

  $('cancel').addEventListener('click', async () => {
    const response = await call('DELETE', path);
    const body = await response.json().catch(() => ({}));
    message(response.ok ? 'Cancelling: what ran is being compensated.' : (body.error && body.error.message) || 'HTTP ' + response.status, !response.ok);
    refresh();
  });

  $('again').addEventListener('click', async () => {
    const response = await call('POST', '/v1/workflows/' + encodeURIComponent(view.workflow) + '/runs', { input: input() });
    const body = await response.json().catch(() => ({}));
    if (response.ok && body.run_id) window.location.assign('/runs/' + encodeURIComponent(body.run_id));
    else message((body.error && body.error.message) || 'HTTP ' + response.status, true);
  });

  const actions = Actions.setup(path, refresh, message);

  follow('/v1/events?run=' + encodeURIComponent(id), (event) => {
    if (event.type === 'lagged') return;
    events.set(event.data.seq, event.data);
    timeline();
    clearTimeout(pending);
    pending = setTimeout(refresh, 100);
  });
  // Bars of a run in flight grow with time.
  setInterval(() => { if (view && view.status === 'running') timeline(); }, 500);
  refresh();
})();

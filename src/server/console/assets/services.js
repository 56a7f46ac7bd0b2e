// The services page: each service actor's health, restarts, breaker state
// and history and calls in flight (GET /v1/services), with attempt counts
// and step latencies read from /metrics; refreshed every few seconds.
'use strict';

(() => {
  const { el, json, text, badge, clear } = Maestro;
  const body = document.getElementById('services-body');
  const steps = document.getElementById('latency-body');
  const status = document.getElementById('services-status');

  // Prometheus text: {name, labels, value} per sample line.
  function samples(source) {
    const out = [];
    const line = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/;
    const label = /(\w+)="((?:[^"\\]|\\.)*)"/g;
    for (const raw of source.split('\n')) {
      const m = line.exec(raw);
      if (!m) continue;
      const labels = {};
      for (const l of (m[2] || '').matchAll(label)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
  }

  function byService(all, name) {
    const counts = new Map();
    for (const s of all.filter((x) => x.name === name)) counts.set(s.labels.service, s.value);
    return counts;
  }

  function latency(all) {
    clear(steps);
    const key = (s) => s.labels.workflow + '\u0000' + s.labels.step;
    const sums = new Map(all.filter((s) => s.name === 'maestro_step_duration_seconds_sum').map((s) => [key(s), s.value]));
    for (const c of all.filter((s) => s.name === 'maestro_step_duration_seconds_count' && s.value > 0)) {
      const mean = (sums.get(key(c)) || 0) / c.value;
      steps.append(el('tr', {}, el('td', {}, c.labels.workflow), el('td', { class: 'mono' }, c.labels.step),
        el('td', {}, String(c.value)), el('td', {}, (mean * 1000).toFixed(1) + ' ms')));
    }
  }

  async function refresh() {
    try {
      const [list, metrics] = await Promise.all([json('/v1/services'), text('/metrics')]);
      const all = samples(metrics);
      const attempts = byService(all, 'maestro_attempts_total');
      const retries = byService(all, 'maestro_retries_total');
      clear(body);
      for (const s of list.services) {
        const t = s.transitions || {};
        body.append(el('tr', { 'data-service': s.name },
          el('td', { class: 'mono' }, s.name), el('td', { class: 'mono' }, s.endpoint),
          el('td', {}, badge(s.alive ? 'up' : 'down')), el('td', {}, String(s.restarts)),
          el('td', {}, badge(s.breaker || 'unknown')),
          el('td', {}, `opened ${t.opened || 0} · half-opened ${t.half_opened || 0} · closed ${t.closed || 0}`),
          el('td', {}, String(s.in_flight)), el('td', {}, String(s.pool_size)),
          el('td', {}, String(attempts.get(s.name) || 0)), el('td', {}, String(retries.get(s.name) || 0))));
      }
      latency(all);
      status.textContent = '';
    } catch (e) {
      status.textContent = 'Cannot read the services: ' + e.message;
    }
  }

  refresh();
  setInterval(refresh, 3000);
})();

// A run's timeline from its events: one row per step, every attempt a bar,
// the backoff between attempts a dotted line, a timeout in its own colour,
// a sleep or a wait a bar of its own colour (to now while it lasts), each
// compensation on a row of its own, the moment the run halted a vertical
// line, a signal received or compensations retried a mark; drawn to scale,
// so parallel branches overlap in time on their own rows.
'use strict';

const Gantt = (() => {
  const { svg } = Maestro;
  const LABEL = 190;
  const WIDTH = 1100;
  const ROW = 22;
  const TIMEOUT = /no answer within|timed out|deadline/i;
  // Events drawn as a mark across the rows, by their class.
  const MARKS = { signal_received: 'signal', compensations_retried: 'retried' };

  function rowsOf(events) {
    const rows = new Map();
    const row = (key, label, kind) => {
      if (!rows.has(key)) rows.set(key, { label, kind, bars: [], gaps: [], open: null, lastEnd: null });
      return rows.get(key);
    };
    const start = (r, t, e) => {
      if (r.lastEnd !== null) r.gaps.push([r.lastEnd, t]);
      r.open = { start: t, attempt: e.attempt, request: e.request };
    };
    // A pause's bar says what it waits for; a resumed run may start it again.
    const pause = (r, t, e) => { r.open = { start: r.open ? r.open.start : t, note: EventLog.pause(e) }; };
    const end = (r, t, outcome, error) => {
      if (!r || !r.open) return;
      r.bars.push(Object.assign({}, r.open, { end: t, outcome, error }));
      r.open = null;
      r.lastEnd = t;
    };
    const failed = (error) => (TIMEOUT.test(error || '') ? 'timeout' : 'failed');
    for (const e of events) {
      const t = Date.parse(e.at);
      const step = rows.get('s:' + e.step);
      const undo = rows.get('c:' + e.step);
      switch (e.event) {
        case 'attempt_started': start(row('s:' + e.step, e.step, 'attempt'), t, e); break;
        case 'attempt_failed': end(step, t, failed(e.error), e.error); break;
        case 'step_completed': end(step, t, 'ok'); break;
        case 'step_failed': end(step, t, failed(e.error), e.error); break;
        case 'step_cancelled': end(step, t, 'cancelled'); break;
        case 'timer_started': case 'wait_started': pause(row('s:' + e.step, e.step, 'pause'), t, e); break;
        case 'compensation_started': start(row('c:' + e.step, '↩ ' + e.step, 'compensation'), t, e); break;
        case 'compensation_attempt_failed': end(undo, t, failed(e.error), e.error); break;
        case 'compensation_completed': end(undo, t, 'ok'); break;
        case 'compensation_failed': end(undo, t, failed(e.error), e.error); break;
        default: break;
      }
    }
    return Array.from(rows.values());
  }

  function ms(duration) {
    if (duration < 1000) return Math.round(duration) + ' ms';
    return (duration / 1000).toFixed(duration < 10000 ? 2 : 1) + ' s';
  }

  function axis(root, span, height) {
    for (let i = 0; i <= 5; i += 1) {
      const x = LABEL + ((WIDTH - LABEL - 10) * i) / 5;
      root.append(svg('line', { class: 'axis', x1: x, x2: x, y1: 14, y2: height }));
      const end = i === 5 ? { x: x - 2, 'text-anchor': 'end' } : { x: x + 2 };
      root.append(svg('text', Object.assign({ class: 'tick', y: 11 }, end), ms((span * i) / 5)));
    }
  }

  // Draw `events` into `container`; bars still open end at `now`.
  function draw(container, events, now) {
    const rows = rowsOf(events);
    const times = events.map((e) => Date.parse(e.at)).filter((t) => !isNaN(t));
    const t0 = Math.min(...times);
    const running = rows.some((r) => r.open);
    const t1 = Math.max(...times, running ? now : 0);
    const span = Math.max(t1 - t0, 1);
    const x = (t) => LABEL + ((WIDTH - LABEL - 10) * (t - t0)) / span;
    const height = 20 + rows.length * ROW + 6;
    const root = svg('svg', { class: 'gantt', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': 'timeline' });
    axis(root, span, height);
    // Where the run stopped going forward: a failure, its timeout, a cancel.
    for (const halt of events.filter((e) => e.event === 'run_halted')) {
      const at = x(Date.parse(halt.at));
      const why = halt.reason === 'timed_out' ? 'timed out after ' + halt.after : String(halt.reason);
      root.append(svg('line', { class: 'halt ' + halt.reason, x1: at, x2: at, y1: 14, y2: height },
        svg('title', {}, 'halted: ' + why)));
    }
    for (const e of events.filter((e) => MARKS[e.event])) {
      const at = x(Date.parse(e.at));
      root.append(svg('line', { class: 'mark ' + MARKS[e.event], x1: at, x2: at, y1: 14, y2: height },
        svg('title', {}, EventLog.describe(e))));
    }
    rows.forEach((r, i) => {
      const y = 20 + i * ROW;
      const line = svg('g', { class: 'row ' + r.kind, 'data-row': r.label });
      line.append(svg('text', { class: 'label', x: 4, y: y + 14 }, r.label));
      for (const [from, to] of r.gaps) {
        line.append(svg('line', { class: 'backoff', x1: x(from), x2: x(to), y1: y + 9, y2: y + 9 },
          svg('title', {}, 'backoff ' + ms(to - from))));
      }
      const bars = r.bars.slice();
      const waiting = r.kind === 'pause' ? 'waiting' : 'running';
      if (r.open) bars.push(Object.assign({}, r.open, { end: now, outcome: waiting }));
      for (const b of bars) {
        const w = Math.max(x(b.end) - x(b.start), 2);
        const kind = r.kind === 'compensation' ? 'undo ' + b.attempt : (b.note || 'attempt ' + b.attempt);
        const what = `${kind}: ${ms(b.end - b.start)}, ${b.outcome}`;
        const tip = [what, b.request, b.error].filter(Boolean).join('\n');
        line.append(svg('rect', { class: `${r.kind} ${b.outcome}`, x: x(b.start), y: y + 3, width: w, height: 13, rx: 2 },
          svg('title', {}, tip)));
      }
      root.append(line);
    });
    container.replaceChildren(root);
  }

  return { draw, rowsOf };
})();

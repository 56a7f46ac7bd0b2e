// A run's events as a person reads them: one line each in the event list,
// and the words for a sleeping or waiting step the step list and the
// timeline share. Every value is run data, set as text only.
'use strict';

const EventLog = (() => {
  const { el, when, clear } = Maestro;
  // The newest events listed; older ones are counted, not drawn, so a long
  // run's page stays quick.
  const SHOWN = 500;
  // Characters of a signal's payload shown; the list is not the place for it all.
  const PAYLOAD = 200;

  // "sleeping until T" or "waiting for signal NAME (until T)".
  function pause(e) {
    if (e.event === 'timer_started') return 'sleeping until ' + when(e.until);
    const until = e.until ? ' (until ' + when(e.until) + ')' : '';
    return 'waiting for signal ' + e.signal + until;
  }

  function clip(value) {
    const text = JSON.stringify(value === undefined ? null : value);
    return text.length > PAYLOAD ? text.slice(0, PAYLOAD - 1) + '…' : text;
  }

  function halted(e) {
    if (e.reason === 'failed') return 'halted: step ' + e.step + ' failed: ' + e.error;
    if (e.reason === 'timed_out') return 'halted: timed out after ' + e.after;
    return 'halted: ' + e.reason;
  }

  function describe(e) {
    switch (e.event) {
      case 'run_started': return e.retry_of ? 'started, retry of ' + e.retry_of : 'started';
      case 'run_resumed': return 'resumed from the journal';
      case 'compensations_retried': return 'the failed compensations are tried again';
      case 'step_skipped': return 'skipped: its condition was false';
      case 'attempt_started': return 'attempt ' + e.attempt + (e.request ? ': ' + e.request : '');
      case 'attempt_failed': return 'attempt ' + e.attempt + ' failed (' + e.class + '): ' + e.error;
      case 'step_completed': return 'completed';
      case 'step_failed': return 'failed after ' + e.attempts + ' attempt(s): ' + e.error;
      case 'step_cancelled': return 'cancelled';
      case 'timer_started': case 'wait_started': return pause(e);
      case 'signal_received': return 'signal ' + e.name + ' received: ' + clip(e.payload);
      case 'run_halted': return halted(e);
      case 'compensation_started': return 'undo attempt ' + e.attempt + (e.request ? ': ' + e.request : '');
      case 'compensation_attempt_failed': return 'undo attempt ' + e.attempt + ' failed (' + e.class + '): ' + e.error;
      case 'compensation_completed': return 'undone';
      case 'compensation_failed': return 'undo failed after ' + e.attempts + ' attempt(s): ' + e.error;
      case 'run_finished': return 'finished: ' + e.status + (e.error ? ': ' + e.error : '');
      default: return '';
    }
  }

  // List `ordered` (by seq) in `body`, the newest SHOWN of them.
  function draw(body, note, ordered) {
    clear(body);
    const shown = ordered.slice(-SHOWN);
    for (const e of shown) {
      body.append(el('tr', { 'data-event': e.event, 'data-seq': String(e.seq) },
        el('td', {}, when(e.at)), el('td', { class: 'mono' }, e.event),
        el('td', { class: 'mono' }, e.step || e.name || ''), el('td', {}, describe(e))));
    }
    const hidden = ordered.length - shown.length;
    note.textContent = hidden > 0 ? hidden + ' earlier events not listed' : (ordered.length ? '' : 'none yet');
  }

  return { pause, describe, draw };
})();

// A run page's signal form and Retry button. A signal carries an
// Idempotency-Key made per submission, kept until an answer arrives: a
// double-click, or sending again after a lost answer, is one signal.
'use strict';

const Actions = (() => {
  const { call } = Maestro;
  const $ = (name) => document.getElementById(name);
  // What POST /v1/runs/{id}/retry accepts.
  const RETRYABLE = ['compensation_failed', 'compensated', 'timed_out', 'cancelled'];
  const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

  // 128 random bits in hex; crypto.randomUUID needs a secure context.
  function newKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function why(response, body) {
    const text = body && body.error && body.error.message;
    return 'HTTP ' + response.status + (text ? ': ' + text : '');
  }

  // Wire the form and the button; `update(view, signal)` shows them as the
  // run stands (`signal`: the name its waiting step waits for, if any).
  function setup(path, refresh, message) {
    const form = $('signal-form');
    const error = $('signal-error');
    const send = form.querySelector('button[type=submit]');
    let key = null;
    form.addEventListener('input', () => { key = null; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (send.disabled) return;
      error.textContent = '';
      const name = form.elements.signal.value.trim();
      if (!NAME.test(name)) {
        error.textContent = 'A signal name is 1 to 128 letters, digits, "_", "-" and ".".';
        return;
      }
      let payload = null;
      const source = form.elements.payload.value.trim();
      if (source) {
        try { payload = JSON.parse(source); } catch (err) {
          error.textContent = 'The payload is not JSON: ' + err.message;
          return;
        }
      }
      if (!key) key = newKey();
      send.disabled = true;
      try {
        const response = await call('POST', path + '/signals/' + encodeURIComponent(name), { payload },
          { 'Idempotency-Key': key });
        const body = await response.json().catch(() => ({}));
        key = null;
        if (response.status === 202) message('Signal ' + name + ' sent: 202 Accepted, id ' + body.id + '.', false);
        else message('Signal ' + name + ' not sent: ' + why(response, body), true);
      } catch (err) {
        // No answer: it may have arrived. Sending again uses the same key.
        message('No answer to the signal (' + err.message + '); sending it again sends it once.', true);
      } finally {
        send.disabled = false;
        refresh();
      }
    });

    $('retry').addEventListener('click', async () => {
      $('retry').disabled = true;
      try {
        const response = await call('POST', path + '/retry');
        const body = await response.json().catch(() => ({}));
        const next = body.run_id || (response.headers.get('Location') || '').split('/').pop();
        if (response.status === 201 && next) {
          window.location.assign('/runs/' + encodeURIComponent(next));
          return;
        }
        if (response.status === 202) message('Trying the failed compensations again.', false);
        else message('Not retried: ' + why(response, body), true);
      } catch (err) {
        message('Not retried: ' + err.message, true);
      }
      refresh();
    });

    return function update(view, signal) {
      $('retry').disabled = !RETRYABLE.includes(view.status);
      const open = view.status === 'running' && signal !== undefined;
      form.hidden = !open;
      // Filled once per wait: a refresh never undoes what was typed.
      if (open && form.dataset.signal !== signal) {
        form.dataset.signal = signal;
        form.elements.signal.value = signal;
        $('signal-waiting').textContent = 'The run waits for signal ' + signal + '.';
        key = null;
      }
    };
  }

  return { setup };
})();

//! A run's page while it waits for a signal, its signal form, and the Retry
//! button of a run that did not succeed, in the browser against a real
//! server and the example HTTP service.

use serde_json::json;

use super::{LIMIT, Setup, TOKEN, setup, with_token};

const APPROVAL: [&str; 2] = ["--workflows", "examples/workflows/account_approval.yaml"];

/// `arguments[0]`'s text in the step row of `arguments[1]`, once there.
const STEP_NOTE: &str = "const r = Array.from(document.querySelectorAll('#steps tr')).find(r => r.dataset.step === arguments[0]); \
    const n = r && r.querySelector('.pause-note'); return n ? n.textContent : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_runs_page_shows_the_wait_and_its_form_sends_the_signal_once() {
    let Some(Setup {
        browser,
        server,
        web: _web,
    }) = setup(&APPROVAL).await
    else {
        return;
    };
    let input = json!({"email": "ana@example.com", "name": "Ana", "plan": "free"});
    let run = server.submit("account_approval", &input).await;
    server
        .wait_step(&run, "manager_approval", "waiting", LIMIT)
        .await;
    browser.go(&server.url(&format!("/runs/{run}"))).await;

    let note = browser
        .wait(
            "the step says what it waits for",
            STEP_NOTE,
            json!(["manager_approval"]),
            LIMIT,
        )
        .await;
    let note = note.as_str().unwrap();
    assert!(
        note.contains("waiting for signal manager_approval (until "),
        "{note}"
    );
    let drawn = "return document.querySelectorAll('#timeline g[data-row=manager_approval] rect.pause.waiting').length === 1 \
        && document.querySelector('#graph g[data-step=manager_approval]').getAttribute('class').includes('pause o-waiting');";
    browser
        .wait("a waiting bar and node", drawn, json!([]), LIMIT)
        .await;
    let offered = "const f = document.getElementById('signal-form'); \
        return !f.hidden && f.elements.signal.value === 'manager_approval' && f.offsetHeight > 0;";
    browser
        .wait("the form, its name filled in", offered, json!([]), LIMIT)
        .await;

    // Not JSON: said in the page, nothing sent.
    let fill = "const f = document.getElementById('signal-form'); f.elements.payload.value = arguments[0]; \
        f.querySelector('button[type=submit]').click(); return document.getElementById('signal-error').textContent;";
    let refused = browser.run(fill, json!(["{\"approved\": tru"])).await;
    assert!(
        refused
            .as_str()
            .unwrap()
            .starts_with("The payload is not JSON: "),
        "{refused}"
    );
    let (_, view) = server.get(&format!("/v1/runs/{run}")).await;
    assert_eq!(view["steps"][1]["outcome"], "waiting", "{view}");
    browser.resize(1280, 1500).await;
    browser.screenshot("console-run-waiting.png").await;

    // A double-click: one signal. A reload would lose the mark.
    let twice = "window.kept = true; const f = document.getElementById('signal-form'); \
        f.elements.payload.value = arguments[0]; const b = f.querySelector('button[type=submit]'); \
        b.click(); b.click(); return true;";
    browser
        .run(twice, json!(["{\"approved\": true, \"by\": \"ana\"}"]))
        .await;
    let answered = "const m = document.getElementById('run-message').textContent; \
        return m.startsWith('Signal manager_approval sent: 202') ? m : null;";
    browser
        .wait("the 202 answer shown", answered, json!([]), LIMIT)
        .await;
    let done = "const b = document.querySelector('#run-status .badge'); \
        return window.kept === true && b && b.textContent === 'succeeded' \
        && document.querySelectorAll('#events tr[data-event=run_finished]').length === 1;";
    browser
        .wait("the run succeeds, live", done, json!([]), LIMIT)
        .await;
    let received = "return Array.from(document.querySelectorAll('#events tr[data-event=signal_received]')).map(r => r.lastChild.textContent);";
    let received = browser.run(received, json!([])).await;
    let received = received.as_array().unwrap();
    assert_eq!(received.len(), 1, "one signal: {received:?}");
    assert!(
        received[0].as_str().unwrap().contains("\"by\":\"ana\""),
        "{received:?}"
    );
    let marks = "return [document.querySelectorAll('#timeline line.mark.signal').length, \
        document.querySelectorAll('#timeline g[data-row=cool_off] rect.pause.ok').length, \
        document.getElementById('signal-form').hidden];";
    assert_eq!(browser.run(marks, json!([])).await, json!([1, 1, true]));
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["output"]["approved_by"], "ana", "{report}");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_button_starts_a_new_run_whose_page_says_retry_of() {
    let Some(Setup {
        browser,
        server,
        web: _web,
    }) = setup(&["--token", TOKEN]).await
    else {
        return;
    };
    let body = json!({"input": {}});
    let submitted = with_token(
        &server,
        reqwest::Method::POST,
        "/v1/workflows/unreachable/runs",
        Some(body),
    )
    .await;
    let first = submitted["run_id"].as_str().expect("accepted").to_string();
    browser.go(&server.url(&format!("/runs/{first}"))).await;
    browser
        .wait(
            "the token is asked for",
            "return document.getElementById('token-dialog').open;",
            json!([]),
            LIMIT,
        )
        .await;
    browser
        .type_into("#token-dialog input[name=token]", TOKEN)
        .await;
    browser.click("#token-dialog button[type=submit]").await;
    let offered = "const b = document.querySelector('#run-status .badge'); \
        return b && b.textContent === 'compensated' && !document.getElementById('retry').disabled \
        && document.getElementById('signal-form').hidden;";
    browser
        .wait(
            "Retry offered on a compensated run",
            offered,
            json!([]),
            LIMIT,
        )
        .await;
    browser.click("#retry").await;

    let linked = "if (location.pathname === '/runs/' + arguments[0]) return null; \
        const dt = Array.from(document.querySelectorAll('#details dt')).find(d => d.textContent === 'retry of'); \
        const a = dt && dt.nextSibling.querySelector('a'); \
        return a ? [location.pathname, a.textContent, a.getAttribute('href')] : null;";
    let shown = browser
        .wait(
            "the new run's page says retry of",
            linked,
            json!([first]),
            LIMIT,
        )
        .await;
    let second = shown[0].as_str().unwrap().trim_start_matches("/runs/");
    assert_ne!(second, first);
    assert_eq!(shown[1], first.as_str());
    assert_eq!(shown[2], format!("/runs/{first}"));
    let view = with_token(
        &server,
        reqwest::Method::GET,
        &format!("/v1/runs/{second}"),
        None,
    )
    .await;
    assert_eq!(view["retry_of"], first.as_str(), "{view}");
    browser.quit().await;
}

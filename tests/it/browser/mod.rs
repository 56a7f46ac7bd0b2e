//! The console in a real browser: headless Chromium over WebDriver, against
//! a real `maestro serve` and the example HTTP service on 127.0.0.1. Where
//! Chromium cannot be installed, each test says so in one line and passes.

mod driver;
mod form;
mod pauses;

use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::process::ServeProcess;
use crate::support::{Fault, ServiceProcess, example_file};
use driver::Browser;

const LIMIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "console-token-0123456789";

/// A browser, a server and the service it calls; dropped in this order.
struct Setup {
    browser: Browser,
    server: ServeProcess,
    web: ServiceProcess,
}

async fn setup(args: &[&str]) -> Option<Setup> {
    if let Err(why) = driver::available() {
        eprintln!("browser test skipped: {why}");
        return None;
    }
    let web = ServiceProcess::spawn("web_http", &[]);
    let mut all = vec![
        "--workflows",
        "examples/workflows/user_onboarding.yaml",
        "tests/fixtures/unreachable.yaml",
    ];
    all.extend_from_slice(args);
    let server = ServeProcess::try_spawn(std::slice::from_ref(&web), &all)
        .unwrap_or_else(|r| panic!("maestro serve did not start: {r:?}"));
    let browser = Browser::start(1280, 1000).await;
    Some(Setup {
        browser,
        server,
        web,
    })
}

fn onboarding(payment: &str, name: &str) -> Value {
    let text = std::fs::read_to_string(example_file("inputs/onboarding_premium.json")).unwrap();
    let mut input: Value = serde_json::from_str(&text).unwrap();
    input["payment_method"] = payment.into();
    input["name"] = name.into();
    input
}

/// An API call with the token, its JSON answer.
async fn with_token(
    server: &ServeProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = server
        .client
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().json().await.unwrap()
}

/// The status shown in the runs list for run `arguments[0]`, once listed.
const LISTED: &str = "const row = Array.from(document.querySelectorAll('#runs-body tr'))\
    .find(r => r.dataset.run === arguments[0]); \
    return row ? row.querySelector('.status').textContent : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_list_shows_api_runs_filters_them_and_updates_live() {
    let Some(Setup {
        browser,
        server,
        web: _web,
    }) = setup(&[]).await
    else {
        return;
    };
    let failed = server.submit("unreachable", &json!({})).await;
    server.wait_final(&failed, LIMIT).await;
    browser.go(&server.url("/")).await;
    let status = browser
        .wait("the run is listed", LISTED, json!([failed]), LIMIT)
        .await;
    assert_eq!(status, "compensated");
    // A reload would lose this mark.
    browser
        .run("window.kept = true; return true;", json!([]))
        .await;
    let live = "return document.getElementById('live').className === 'on';";
    browser
        .wait("the page follows the events", live, json!([]), LIMIT)
        .await;

    let ok = server
        .submit("user_onboarding", &onboarding("pm_card_visa", "Ada"))
        .await;
    let succeeded =
        format!("return window.kept === true && (() => {{ {LISTED} }})() === 'succeeded';");
    browser
        .wait(
            "the new run appears and ends, live",
            &succeeded,
            json!([ok]),
            LIMIT,
        )
        .await;
    browser.screenshot("console-runs.png").await;

    let filter = "const s = document.querySelector('select[name=status]'); s.value = 'compensated'; \
        s.dispatchEvent(new Event('change', {bubbles: true})); return true;";
    browser.run(filter, json!([])).await;
    let only_failed = "const ids = Array.from(document.querySelectorAll('#runs-body tr')).map(r => r.dataset.run); \
        return ids.includes(arguments[0]) && !ids.includes(arguments[1]);";
    browser
        .wait(
            "only compensated runs",
            only_failed,
            json!([failed, ok]),
            LIMIT,
        )
        .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_list_pages_by_cursor_and_filters_by_id_prefix() {
    let Some(Setup {
        browser,
        server,
        web: _web,
    }) = setup(&[]).await
    else {
        return;
    };
    let mut runs = Vec::new();
    for _ in 0..3 {
        let run = server.submit("unreachable", &json!({})).await;
        server.wait_final(&run, LIMIT).await;
        runs.push(run);
    }
    browser.go(&server.url("/?limit=2")).await;
    let listed = "const ids = Array.from(document.querySelectorAll('#runs-body tr')).map(r => r.dataset.run); \
        return ids.length === arguments[0] && !document.getElementById('more').hidden === arguments[1] ? ids : null;";
    let first = browser
        .wait("a page of 2", listed, json!([2, true]), LIMIT)
        .await;
    assert_eq!(first, json!([runs[2], runs[1]]), "newest first");
    browser.click("#more").await;
    let all = browser
        .wait("the next page after it", listed, json!([3, false]), LIMIT)
        .await;
    assert_eq!(all, json!([runs[2], runs[1], runs[0]]));

    // Ids share their time-ordered start: the whole id is its own prefix.
    // The server filters: one run, and no further page to offer.
    browser.type_into("input[name=prefix]", &runs[1]).await;
    browser.click("#filters button[type=submit]").await;
    let only = browser
        .wait("one run", listed, json!([1, false]), LIMIT)
        .await;
    assert_eq!(only, json!([runs[1]]));
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_runs_page_shows_its_compensation_timeline_and_graph() {
    let Some(Setup {
        browser,
        server,
        web,
    }) = setup(&[]).await
    else {
        return;
    };
    // One refused attempt: a retry after a backoff, on the timeline too.
    web.set_fault(Fault::fail("POST /crm/contacts", 1, "503"));
    let hostile = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script>";
    let run = server
        .submit("user_onboarding", &onboarding("pm_card_declined", hostile))
        .await;
    let report = server.wait_final(&run, LIMIT).await;
    assert_eq!(report["status"], "compensated", "{report}");
    browser.go(&server.url(&format!("/runs/{run}"))).await;

    let undone = "return Array.from(document.querySelectorAll('#compensations tr')).map(r => r.dataset.step);";
    let steps = browser
        .wait(
            "compensations listed",
            &format!("const s = (() => {{ {undone} }})(); return s.length ? s : null;"),
            json!([]),
            LIMIT,
        )
        .await;
    assert!(
        steps
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "create_account"),
        "{steps}"
    );
    timeline_and_graph(&browser).await;
    let shown = "return document.getElementById('input').textContent;";
    let input = browser
        .wait(
            "the input shown",
            &format!("const t = (() => {{ {shown} }})(); return t || null;"),
            json!([]),
            LIMIT,
        )
        .await;
    assert!(
        input.as_str().unwrap().contains("<img src=x"),
        "shown as text: {input}"
    );
    let pwned = browser
        .run(
            "return window.pwned === undefined && !document.querySelector('main img');",
            json!([]),
        )
        .await;
    assert_eq!(pwned, true, "run data never became markup");
    browser.resize(1280, 1700).await;
    browser.screenshot("console-run.png").await;
    browser.quit().await;
}

/// A failed run's timeline (attempts, the retry after its backoff, the
/// halt, the compensations) and its graph coloured by outcome.
async fn timeline_and_graph(browser: &Browser) {
    let bars = "return document.querySelectorAll('#timeline rect.compensation').length || null;";
    browser
        .wait("compensations on the timeline", bars, json!([]), LIMIT)
        .await;
    let attempts = "return document.querySelectorAll('#timeline rect.attempt').length || null;";
    browser
        .wait("attempts on the timeline", attempts, json!([]), LIMIT)
        .await;
    let retried = "return document.querySelectorAll('#timeline g[data-row=crm_entry] rect.attempt.failed').length === 1 \
        && document.querySelectorAll('#timeline g[data-row=crm_entry] line.backoff').length === 1 \
        && document.querySelectorAll('#timeline line.halt.failed').length === 1;";
    browser
        .wait(
            "a failed attempt, its backoff, the retry, the halt",
            retried,
            json!([]),
            LIMIT,
        )
        .await;
    let node = "const n = Array.from(document.querySelectorAll('#graph g[data-step]')).find(g => g.dataset.step === 'create_account'); \
        return n ? n.getAttribute('class') : null;";
    let class = browser.wait("the graph coloured", &format!("const c = (() => {{ {node} }})(); return c && c.includes('o-compensated') ? c : null;"), json!([]), LIMIT).await;
    assert!(class.as_str().unwrap().contains("o-compensated"), "{class}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_console_asks_once_and_its_cancel_button_cancels() {
    let Some(Setup {
        browser,
        server,
        web,
    }) = setup(&["--token", TOKEN]).await
    else {
        return;
    };
    // The welcome e-mail, which has nothing to undo, never answers within
    // its 5 s timeout and is tried again: the run stays in flight for up to
    // the workflow's 20 s, however slowly the browser comes, and is
    // cancelled meanwhile.
    web.set_fault(Fault::delay("POST /emails", 60_000));
    let body = json!({"input": onboarding("pm_card_visa", "Ada")});
    let submitted = with_token(
        &server,
        reqwest::Method::POST,
        "/v1/workflows/user_onboarding/runs",
        Some(body),
    )
    .await;
    let run = submitted["run_id"].as_str().expect("accepted").to_string();
    web.wait_active("POST /emails");

    browser.go(&server.url(&format!("/runs/{run}"))).await;
    let asked = "return document.getElementById('token-dialog').open;";
    browser
        .wait("the token is asked for", asked, json!([]), LIMIT)
        .await;
    browser
        .type_into("#token-dialog input[name=token]", TOKEN)
        .await;
    browser.click("#token-dialog button[type=submit]").await;
    let ready = "return !document.getElementById('cancel').disabled;";
    browser
        .wait("the cancel button is offered", ready, json!([]), LIMIT)
        .await;
    browser.click("#cancel").await;
    let cancelled = "const b = document.querySelector('#run-status .badge'); return b && b.textContent === 'cancelled';";
    browser
        .wait("the run is cancelled", cancelled, json!([]), LIMIT)
        .await;
    let view = with_token(
        &server,
        reqwest::Method::GET,
        &format!("/v1/runs/{run}"),
        None,
    )
    .await;
    assert_eq!(view["status"], "cancelled", "{view}");

    // Asked once: the next page reads the API with the kept token.
    browser.go(&server.url("/")).await;
    browser
        .wait("listed without asking", LISTED, json!([run]), LIMIT)
        .await;
    let asked_again = browser.run(asked, json!([])).await;
    assert_eq!(asked_again, false);
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_services_and_docs_pages_render() {
    let Some(Setup {
        browser,
        server,
        web: _web,
    }) = setup(&["--workflows", "examples/workflows/scheduled_reminder.yaml"]).await
    else {
        return;
    };
    browser.go(&server.url("/workflows")).await;
    let drawn = "return document.querySelectorAll('section[data-workflow] svg g[data-step]').length || null;";
    browser.wait("graphs drawn", drawn, json!([]), LIMIT).await;
    let scheduled = "const t = document.querySelector('section[data-workflow=scheduled_reminder] table.schedules td'); return t ? t.textContent : null;";
    let first = browser
        .wait("the schedules table", scheduled, json!([]), LIMIT)
        .await;
    assert_eq!(first, "cron 0 9 1 * *");
    let input = onboarding("pm_card_visa", "Grace").to_string();
    let fill = "const s = Array.from(document.querySelectorAll('section[data-workflow]')).find(s => s.dataset.workflow === 'user_onboarding'); \
        s.querySelector('textarea').value = arguments[0]; s.querySelector('button[type=submit]').click(); return true;";
    browser.run(fill, json!([input])).await;
    let started = "const a = document.querySelector('section[data-workflow] form a'); return a ? a.textContent : null;";
    let run = browser
        .wait("a run started from the form", started, json!([]), LIMIT)
        .await;
    let report = server.wait_final(run.as_str().unwrap(), LIMIT).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let shown = "document.querySelector('section[data-workflow=user_onboarding]').scrollIntoView(); return true;";
    browser.run(shown, json!([])).await;
    browser.screenshot("console-workflows.png").await;

    browser.go(&server.url("/services")).await;
    let rows = "const r = Array.from(document.querySelectorAll('#services-body tr')).map(r => r.dataset.service); return r.length ? r : null;";
    let services = browser
        .wait("services listed", rows, json!([]), LIMIT)
        .await;
    assert!(
        services.as_array().unwrap().iter().any(|s| s == "accounts"),
        "{services}"
    );
    browser.screenshot("console-services.png").await;

    browser.go(&server.url("/docs")).await;
    let rendered = "const t = document.body.innerText; return t.includes('/v1/events') && t.includes('Start a run of a workflow');";
    browser
        .wait("the API reference rendered", rendered, json!([]), LIMIT)
        .await;
    browser.screenshot("console-docs.png").await;
    browser.quit().await;
}

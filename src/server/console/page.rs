//! The console's pages as HTML: a shell per page (navigation, the page's
//! headings and empty tables, the token form) that its script fills from the
//! API. Anything taken from the request is escaped.

use std::fmt::Write as _;

use crate::escape::html;
use crate::runtime::RunStatus;

/// One page of the console.
#[derive(Debug, Clone, Copy)]
pub enum Page<'a> {
    Runs,
    /// A run, by the id in its address (any text: escaped).
    Run(&'a str),
    Workflows,
    Services,
    Docs,
}

impl Page<'_> {
    fn title(&self) -> &'static str {
        match self {
            Page::Runs => "Runs",
            Page::Run(_) => "Run",
            Page::Workflows => "Workflows",
            Page::Services => "Services",
            Page::Docs => "API",
        }
    }

    fn scripts(&self) -> &'static [&'static str] {
        match self {
            Page::Runs => &["runs.js"],
            Page::Run(_) => &["eventlog.js", "gantt.js", "actions.js", "run.js"],
            Page::Workflows => &["workflows.js"],
            Page::Services => &["services.js"],
            Page::Docs => &["redoc.standalone.js", "docs.js"],
        }
    }

    fn main(&self) -> String {
        match self {
            Page::Runs => RUNS.replace("{statuses}", &status_options()),
            Page::Run(id) => RUN
                .replace("{SIGNAL_FORM}", SIGNAL_FORM)
                .replace("{id}", &html(id)),
            Page::Workflows => {
                "<h1>Workflows</h1><div id=\"workflows\" class=\"notice\">loading…</div>".into()
            }
            Page::Services => SERVICES.to_string(),
            Page::Docs => "<div id=\"redoc\">loading…</div>".into(),
        }
    }
}

/// The whole page.
pub fn render(page: Page) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · maestro</title><link rel=\"stylesheet\" href=\"/console/console.css\"></head>",
        page.title()
    );
    match page {
        Page::Run(id) => {
            let _ = write!(out, "<body data-page=\"run\" data-run=\"{}\">", html(id));
        }
        _ => {
            let _ = write!(out, "<body data-page=\"{}\">", page.title().to_lowercase());
        }
    }
    out.push_str(&nav(page));
    let _ = write!(out, "<main id=\"main\">{}</main>{TOKEN_FORM}", page.main());
    out.push_str("<script src=\"/console/api.js\"></script>");
    for script in page.scripts() {
        let _ = write!(out, "<script src=\"/console/{script}\"></script>");
    }
    out.push_str("</body></html>");
    out
}

/// One `<option>` per run status, as the API names them.
fn status_options() -> String {
    let mut out = String::new();
    for status in RunStatus::ALL {
        if let Ok(serde_json::Value::String(name)) = serde_json::to_value(status) {
            let _ = write!(out, "<option>{}</option>", html(&name));
        }
    }
    out
}

fn nav(page: Page) -> String {
    let links = [
        ("/", "Runs", matches!(page, Page::Runs | Page::Run(_))),
        ("/workflows", "Workflows", matches!(page, Page::Workflows)),
        ("/services", "Services", matches!(page, Page::Services)),
        ("/docs", "API", matches!(page, Page::Docs)),
    ];
    let mut out = String::from("<header><span class=\"brand\">maestro</span><nav>");
    for (href, name, current) in links {
        let class = if current { " class=\"current\"" } else { "" };
        let _ = write!(out, "<a href=\"{href}\"{class}>{name}</a>");
    }
    out.push_str("</nav><span id=\"live\"></span></header>");
    out
}

const TOKEN_FORM: &str = "<dialog id=\"token-dialog\"><form method=\"dialog\">\
<p>This server wants its token (<code>--token</code>). It is kept in this tab only.</p>\
<input name=\"token\" type=\"password\" autocomplete=\"off\" size=\"40\" aria-label=\"token\">\
<button type=\"submit\">Use it</button></form></dialog>";

const RUNS: &str = "<h1>Runs</h1>\
<form id=\"filters\" class=\"filters\">\
<label>Workflow<select name=\"workflow\"><option value=\"\">any</option></select></label>\
<label>Status<select name=\"status\"><option value=\"\">any</option>\
{statuses}</select></label>\
<label>From<input type=\"datetime-local\" name=\"from\"></label>\
<label>To<input type=\"datetime-local\" name=\"to\"></label>\
<label>Run id starts with<input name=\"prefix\" size=\"14\" autocomplete=\"off\"></label>\
<button type=\"submit\">Filter</button></form>\
<table><thead><tr><th>Run</th><th>Workflow</th><th>Status</th><th>Submitted</th><th>Error</th></tr></thead>\
<tbody id=\"runs-body\"></tbody></table>\
<p id=\"runs-status\" class=\"notice\">loading…</p>\
<button id=\"more\" hidden>Older runs</button>";

const RUN: &str = "<h1>Run <span class=\"mono\" id=\"run-id\">{id}</span> <span id=\"run-status\"></span></h1>\
<div class=\"actions\"><button id=\"cancel\" class=\"danger\" disabled>Cancel</button>\
<button id=\"again\" disabled>Start again with this input</button>\
<button id=\"retry\" disabled>Retry</button></div>\
<p id=\"run-message\" class=\"notice\"></p>{SIGNAL_FORM}\
<div class=\"grid\"><section class=\"card\"><h2>Details</h2><dl class=\"kv\" id=\"details\"></dl></section>\
<section class=\"card\"><h2>Input</h2><div id=\"input\"></div></section>\
<section class=\"card\"><h2>Output</h2><div id=\"output\"></div></section></div>\
<h2>Timeline</h2><div class=\"legend\"><span><i class=\"ok\"></i>attempt ok</span>\
<span><i class=\"failed\"></i>attempt failed</span>\
<span><i class=\"timeout\"></i>timed out</span>\
<span><i class=\"backoff\"></i>backoff</span>\
<span><i class=\"comp\"></i>compensation</span>\
<span><i class=\"running\"></i>in flight</span>\
<span><i class=\"waiting\"></i>sleeping or waiting</span>\
<span><i class=\"signal\"></i>signal received</span></div>\
<div id=\"timeline\" class=\"notice\">no attempt yet</div>\
<h2>Graph</h2><div id=\"graph\" class=\"card\"></div>\
<h2>Steps</h2><table><thead><tr><th>Step</th><th>Call</th><th>Outcome</th><th>Attempts</th>\
<th>Duration</th><th>Request</th><th>Error</th></tr></thead><tbody id=\"steps\"></tbody></table>\
<h2>Compensations</h2><p id=\"no-compensations\" class=\"notice\">none</p>\
<table><thead><tr><th>Step</th><th>Undo</th><th>Attempts</th><th>Request</th><th>Error</th></tr></thead>\
<tbody id=\"compensations\"></tbody></table>\
<h2>Events</h2><table><thead><tr><th>At</th><th>Event</th><th>Step or signal</th><th>What</th></tr></thead>\
<tbody id=\"events\"></tbody></table><p id=\"events-note\" class=\"notice\">none yet</p>";

/// Shown while the run waits for a signal; the name is filled from the
/// waiting step, the payload checked as JSON before it is sent.
const SIGNAL_FORM: &str = "<form id=\"signal-form\" class=\"card signal\" hidden>\
<h2>Send signal</h2><p id=\"signal-waiting\" class=\"notice\"></p>\
<label>Signal<input name=\"signal\" size=\"30\" autocomplete=\"off\" spellcheck=\"false\"></label>\
<label>Payload (JSON)<textarea name=\"payload\" spellcheck=\"false\">{}</textarea></label>\
<button type=\"submit\">Send signal</button><p id=\"signal-error\" class=\"error\"></p></form>";

const SERVICES: &str = "<h1>Services</h1>\
<table><thead><tr><th>Service</th><th>Endpoint</th><th>Actor</th><th>Restarts</th><th>Breaker</th>\
<th>Breaker history</th><th>In flight</th><th>Pool</th><th>Attempts</th><th>Retries</th></tr></thead>\
<tbody id=\"services-body\"></tbody></table><p id=\"services-status\" class=\"notice\">loading…</p>\
<h2>Step latency (finished runs)</h2><table><thead><tr><th>Workflow</th><th>Step</th><th>Completed</th>\
<th>Mean</th></tr></thead><tbody id=\"latency-body\"></tbody></table>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_from_the_address_is_escaped_everywhere() {
        let hostile = "\"><script>alert('x')</script>";
        let page = render(Page::Run(hostile));
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(
            page.contains("data-run=\"&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\"")
        );
        assert_eq!(
            page.matches("&lt;script&gt;").count(),
            2,
            "attribute and heading"
        );
    }

    #[test]
    fn every_page_loads_the_shared_script_then_its_own() {
        for page in [
            Page::Runs,
            Page::Run("r"),
            Page::Workflows,
            Page::Services,
            Page::Docs,
        ] {
            let html = render(page);
            let shared = html.find("/console/api.js").expect("api.js");
            for script in page.scripts() {
                let own = html
                    .find(&format!("/console/{script}"))
                    .expect("its script");
                assert!(shared < own, "{script}");
            }
        }
    }
}

//! The console's files, built into the binary: served from memory, so the
//! console works offline and needs nothing at build time but this crate.

/// Name under `/console/`, media type, content.
const FILES: &[(&str, &str, &[u8])] = &[
    ("console.css", CSS, include_bytes!("assets/console.css")),
    ("api.js", JS, include_bytes!("assets/api.js")),
    ("runs.js", JS, include_bytes!("assets/runs.js")),
    ("run.js", JS, include_bytes!("assets/run.js")),
    ("gantt.js", JS, include_bytes!("assets/gantt.js")),
    ("eventlog.js", JS, include_bytes!("assets/eventlog.js")),
    ("actions.js", JS, include_bytes!("assets/actions.js")),
    ("workflows.js", JS, include_bytes!("assets/workflows.js")),
    ("services.js", JS, include_bytes!("assets/services.js")),
    ("docs.js", JS, include_bytes!("assets/docs.js")),
    // Redoc 2.5.4 (MIT), the standalone bundle as published on npm.
    (
        "redoc.standalone.js",
        JS,
        include_bytes!("assets/redoc.standalone.js"),
    ),
    (
        "redoc.LICENSE",
        TEXT,
        include_bytes!("assets/redoc.LICENSE"),
    ),
    (
        "redoc.standalone.js.LICENSE.txt",
        TEXT,
        include_bytes!("assets/redoc.standalone.js.LICENSE.txt"),
    ),
];

const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// A file by its name under `/console/`, with its media type.
pub fn file(name: &str) -> Option<(&'static str, &'static [u8])> {
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, kind, bytes)| (*kind, *bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_page_script_is_served() {
        for name in [
            "api.js",
            "runs.js",
            "run.js",
            "gantt.js",
            "eventlog.js",
            "actions.js",
            "workflows.js",
            "services.js",
        ] {
            assert!(super::file(name).is_some(), "{name}");
        }
        assert!(super::file("../Cargo.toml").is_none());
        let (kind, redoc) = super::file("redoc.standalone.js").expect("embedded");
        assert!(kind.starts_with("text/javascript"));
        assert!(redoc.len() > 500_000, "the whole bundle");
    }
}

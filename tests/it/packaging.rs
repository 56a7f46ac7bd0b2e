//! What the release build ships: a stripped binary (about 22 MB, against
//! 114-119 MB with debug line tables and symbols), with the symbols kept in
//! a profile of their own for profilers. Built by `cargo build --release`
//! (and `cargo install --path .`), too slow for the suite, so the manifest
//! that decides it is checked instead.

/// The `key = value` lines of one `[section]` of Cargo.toml.
fn section(manifest: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("[{name}]");
    let mut lines = manifest.lines().skip_while(|l| l.trim() != header);
    lines
        .next()
        .unwrap_or_else(|| panic!("Cargo.toml has no {header}"));
    lines
        .take_while(|l| !l.trim_start().starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

#[test]
fn the_release_binary_is_stripped_and_symbols_live_in_the_profiling_build() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    let release = section(&manifest, "profile.release");
    let get = |s: &[(String, String)], k: &str| {
        s.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
    };
    assert_eq!(
        get(&release, "strip").as_deref(),
        Some("true"),
        "{release:?}"
    );
    assert!(
        get(&release, "debug").is_none_or(|d| d == "false" || d == "0" || d == "none"),
        "the release build carries no debug info: {release:?}"
    );
    let profiling = section(&manifest, "profile.profiling");
    assert_eq!(get(&profiling, "inherits").as_deref(), Some("release"));
    assert_eq!(get(&profiling, "strip").as_deref(), Some("none"));
    assert!(get(&profiling, "debug").is_some(), "{profiling:?}");
}

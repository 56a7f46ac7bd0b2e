//! What the release build ships: a stripped binary (about 22 MB, against
//! 114-119 MB with debug line tables and symbols), with the symbols kept in
//! a profile of their own for profilers. Built by `cargo build --release`
//! (and `cargo install --path .`), too slow for the suite, so the manifest
//! that decides it is checked instead. On Linux the executable is linked
//! position-dependent (no relocations to apply at start), unless built with
//! MAESTRO_PIE=1.

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

#[cfg(target_os = "linux")]
#[test]
fn the_executable_loads_at_a_fixed_address_on_linux() {
    if std::env::var("MAESTRO_PIE").is_ok_and(|v| v == "1") {
        return;
    }
    use std::io::Read;
    let mut binary = [0u8; 18];
    std::fs::File::open(env!("CARGO_BIN_EXE_maestro"))
        .and_then(|mut file| file.read_exact(&mut binary))
        .expect("the maestro binary's ELF header");
    assert_eq!(&binary[..4], b"\x7fELF");
    // e_type, at offset 16: 2 is a position-dependent executable (EXEC), 3
    // a position-independent one (DYN), whose relocations cost every start.
    let kind = u16::from_le_bytes([binary[16], binary[17]]);
    assert_eq!(kind, 2, "the maestro executable is position-independent");
}

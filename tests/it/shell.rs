//! Completion scripts and man pages, generated from the command line's own
//! definition: each shell's script names the commands and flags, bash's
//! completes a word when sourced, and `maestro man` writes one page per
//! command that `man` renders.

use std::path::PathBuf;
use std::process::Command;

fn maestro(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(args)
        .output()
        .expect("maestro runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn every_shell_gets_a_script_naming_the_commands_and_flags() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, script, stderr) = maestro(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in [
            "execute",
            "validate",
            "runs",
            "schema",
            "state-dir",
            "input-file",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let (code, _, stderr) = maestro(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is a usage error: {stderr}");
}

#[test]
fn the_bash_script_completes_a_subcommand_when_sourced() {
    let (_, script, _) = maestro(&["completions", "bash"]);
    let dir = std::env::temp_dir().join(format!("maestro-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    let file = dir.join("maestro.bash");
    std::fs::write(&file, script).expect("written");
    let probe = format!(
        "source '{}'; COMP_WORDS=(maestro exe); COMP_CWORD=1; _maestro maestro exe maestro; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("bash runs");
    let _ = std::fs::remove_dir_all(&dir);
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(words.trim(), "execute", "{words}");
}

#[test]
fn man_writes_one_page_per_command_that_man_renders() {
    let dir: PathBuf = std::env::temp_dir().join(format!("maestro-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, stderr) = maestro(&["man", "--out", dir.to_str().expect("UTF-8")]);
    assert_eq!(code, 0, "{stderr}");
    for page in [
        "maestro.1",
        "maestro-execute.1",
        "maestro-serve.1",
        "maestro-runs-show.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".TH "), "{page}: {text:.200}");
    }
    let execute = std::fs::read_to_string(dir.join("maestro-execute.1")).expect("written");
    assert!(execute.contains("state\\-dir"), "{execute:.400}");
    let rendered = Command::new("man")
        .args(["-P", "cat", "-l"])
        .arg(dir.join("maestro-execute.1"))
        .env("MANWIDTH", "100")
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    // Rendered where `man` is installed, as on the project's machines.
    if let Ok(out) = rendered {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("--state-dir"), "{text}");
    }
}

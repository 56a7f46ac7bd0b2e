//! Signals posted for a run by another process (`maestro signal`), waiting
//! for the process that drives the run to journal them with its events. A
//! state directory keeps one file per signal in `signals/`; PostgreSQL, a
//! table. Taken out once journaled with the run; one taken twice after a
//! crash is the same signal (its id), counted once.

use std::fs;
use std::io::{self, Read, Write as _};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JournalError, private};

/// The largest signal accepted, payload included: a signal's payload lands
/// in the run's data and journal, like a step's output.
pub const MAX_SIGNAL_BYTES: usize = 1024 * 1024;
/// Posted signals read in one look.
pub const INBOX_BATCH: usize = 1000;
/// The folder of a state directory that holds posted signals.
const FOLDER: &str = "signals";

/// A signal for a run's `wait` steps, as posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostedSignal {
    pub run_id: String,
    pub name: String,
    /// The same id posted twice is one signal.
    pub id: String,
    pub payload: Value,
}

/// A posted signal, with the key that takes it out of the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    pub key: String,
    pub signal: PostedSignal,
}

fn write_error(e: impl std::fmt::Display) -> JournalError {
    JournalError::Write(format!("signal inbox: {e}"))
}

/// Write `signal` as a file of its own, whole or not at all: written under
/// a hidden name, then renamed. Names sort in the order they were posted.
pub(crate) fn post_file(dir: &Path, signal: &PostedSignal) -> Result<(), JournalError> {
    let body = serde_json::to_vec(signal).map_err(write_error)?;
    if body.len() > MAX_SIGNAL_BYTES {
        return Err(too_large(body.len()));
    }
    let folder = dir.join(FOLDER);
    private::create_dir(&folder).map_err(write_error)?;
    let name = uuid::Uuid::now_v7().to_string();
    let hidden = folder.join(format!(".{name}.tmp"));
    let mut file = private::open(&hidden).map_err(write_error)?;
    file.write_all(&body)
        .and_then(|()| file.sync_all())
        .map_err(write_error)?;
    fs::rename(&hidden, folder.join(format!("{name}.json"))).map_err(write_error)
}

pub fn too_large(bytes: usize) -> JournalError {
    JournalError::Write(format!(
        "the signal is {bytes} bytes, over the limit of {MAX_SIGNAL_BYTES}"
    ))
}

/// The oldest posted signals, at most [`INBOX_BATCH`]. A file that cannot
/// be read as a signal is left where it is, with a warning.
pub(crate) fn read_files(dir: &Path) -> Result<Vec<Posted>, JournalError> {
    let folder = dir.join(FOLDER);
    let entries = match fs::read_dir(&folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::Read(format!("signal inbox: {e}"))),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    names.truncate(INBOX_BATCH);
    let mut posted = Vec::with_capacity(names.len());
    for key in names {
        match read_one(&folder.join(&key)) {
            Ok(signal) => posted.push(Posted { key, signal }),
            Err(e) => tracing::warn!(file = %key, error = %e, "a posted signal was not read"),
        }
    }
    Ok(posted)
}

fn read_one(path: &Path) -> Result<PostedSignal, String> {
    let file = fs::File::open(path).map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    file.take(MAX_SIGNAL_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() > MAX_SIGNAL_BYTES {
        return Err(format!("over {MAX_SIGNAL_BYTES} bytes"));
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// Take signals out of the inbox: they are journaled with their runs.
pub(crate) fn remove_files(dir: &Path, keys: &[String]) -> Result<(), JournalError> {
    let folder = dir.join(FOLDER);
    for key in keys {
        // Keys are names this module listed: a plain file name, no path.
        if key.contains(['/', '\\']) || key.starts_with('.') {
            continue;
        }
        match fs::remove_file(folder.join(key)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(write_error(e)),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_files_are_read_in_order_then_taken_out() {
        let dir = std::env::temp_dir().join(format!("maestro-inbox-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let signal = |id: &str| PostedSignal {
            run_id: "r1".into(),
            name: "go".into(),
            id: id.into(),
            payload: serde_json::json!({"n": id}),
        };
        assert!(read_files(&dir).unwrap().is_empty());
        post_file(&dir, &signal("a")).unwrap();
        post_file(&dir, &signal("b")).unwrap();
        fs::write(dir.join(FOLDER).join("zz-garbage.json"), b"{").unwrap();
        let posted = read_files(&dir).unwrap();
        let ids: Vec<&str> = posted.iter().map(|p| p.signal.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        remove_files(&dir, &[posted[0].key.clone(), "../escape".into()]).unwrap();
        let left = read_files(&dir).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].signal, signal("b"));
        let huge = PostedSignal {
            payload: Value::String("x".repeat(MAX_SIGNAL_BYTES)),
            ..signal("c")
        };
        assert!(
            post_file(&dir, &huge)
                .unwrap_err()
                .to_string()
                .contains("over the limit")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(FOLDER)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

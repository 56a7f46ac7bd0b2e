//! A state directory holds runs' inputs and outputs, so it is created 0700
//! and the files Maestro keeps in it are 0600, whatever the umask. A folder
//! that already exists is the user's and keeps its mode; Maestro's files in
//! it are tightened.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// The mode of a state directory Maestro creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// The mode of each file Maestro keeps in a state directory.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Create `dir` with [`DIR_MODE`] (missing parents as `mkdir -p` would), or
/// leave an existing folder as it is.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    match builder.create(dir) {
        // The umask can only take bits away; set the mode exactly.
        Ok(()) => set_mode(dir, DIR_MODE),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Open Maestro's file `path` for writing, creating it if need be, with
/// [`FILE_MODE`] from its first byte on.
pub(crate) fn open(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(FILE_MODE))?;
    Ok(file)
}

/// Set Maestro's file `path` to [`FILE_MODE`] if it exists (one an older
/// version left more open).
pub(crate) fn tighten(path: &Path) -> io::Result<()> {
    match set_mode(path, FILE_MODE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

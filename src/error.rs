//! What a caller can do about an error, whichever layer raised it: each
//! layer's error enum names its [`ErrorClass`], and the command line and the
//! HTTP API turn the class into an exit code or a status in one place each.

/// The kind of an error, as a caller acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request, the input or a file is wrong: fix it; retrying the
    /// same thing fails the same way.
    Invalid,
    /// May work if tried again later (a journal's connection dropped).
    Transient,
    /// Something is held by another process or replica.
    Conflict,
    /// Maestro itself could not do its work (I/O, a resource, a bug).
    Internal,
}

impl ErrorClass {
    /// Whether trying the same thing again later may succeed.
    pub fn is_transient(self) -> bool {
        self == ErrorClass::Transient
    }
}

//! execute tests.

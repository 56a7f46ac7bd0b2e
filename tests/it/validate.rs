//! validate tests.

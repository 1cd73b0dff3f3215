//! Fake peers for tests.

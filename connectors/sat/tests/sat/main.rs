//! Integration tests of the SAT connector: FIEL loading, golden envelopes, response parsing and scenarios against
//! the fake SAT server. One binary so the suite links once.

mod common;
mod fiel_tests;
mod golden;
mod planning;
mod responses;
mod scenarios;
mod secrets;

//! The harness's FIEL: a test FIEL made with openssl (`cuadra_testkit::fiel`) for the scenario's company RFC.

pub use cuadra_testkit::fiel::GeneratedFiel as Fiel;

/// A FIEL of `rfc`, valid from now for a year.
pub fn generate(rfc: &str) -> Fiel {
    cuadra_testkit::fiel::generate(rfc, "CUADRA FAULTS", 365, "Cu4dra-f4ult-pw")
}

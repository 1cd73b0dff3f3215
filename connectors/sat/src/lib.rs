//! Cuadra's SAT connector: downloads the company's CFDI and metadata packages from the SAT *Descarga Masiva* web
//! service (v1.5) with its FIEL, as a durable state machine whose whole state lives in the SDK `Checkpoint`.
//!
//! [`SatKind`] builds a [`SatSource`] from [`SatSettings`] (with the password resolved) and the daemon calls
//! `pull`; each pull does a bounded step and returns packages as `Delivery { kind: "sat-package-cfdi" |
//! "sat-package-metadata" }`, which the kind hands to the CFDI importer. [`describe`] reads a checkpoint's
//! progress; `SatKind` prints it for `cuadra sync`.
//!
//! # Layout
//! - [`fiel`], [`cert`]: loading and checking the FIEL (`.cer` + encrypted `.key` + password).
//! - [`envelope`]: the signed SOAP requests, byte-exact with the reference client.
//! - [`response`], [`xml`]: reading the services' answers.
//! - [`client`]: HTTP calls, token reuse, clock-skew detection.
//! - [`settings`], [`plan`], [`checkpoint`], [`source`]: configuration, window planning, state, the `Source`.
//! - [`kind`]: `SatKind`, the connector contract (password resolution, doctor, sync progress, package opening).

pub mod cert;
pub mod checkpoint;
pub mod client;
pub mod envelope;
pub mod fiel;
pub mod kind;
pub mod plan;
pub mod response;
pub mod settings;
pub mod source;
mod steps;
pub mod xml;

pub use checkpoint::{describe, RequestStatus, RowState, SatState};
pub use fiel::{Fiel, FielError};
pub use kind::SatKind;
pub use settings::SatSettings;
pub use source::SatSource;

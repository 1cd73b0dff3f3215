//! Cuadra.

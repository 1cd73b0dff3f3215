//! Integration tests of cuadra-erp against its fakes over real HTTP: Odoo pull and push, idempotency, reversal,
//! error classes; HTTP sink signatures, webhook verification, pull paging; fuzz stand-ins.

mod fuzz;
mod http;
mod odoo;
mod odoo_errors;
mod support;

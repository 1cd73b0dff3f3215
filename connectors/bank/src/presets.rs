//! Named [`CsvMapping`] presets for layouts that are documented (bank.md §9 and the fixture corpus), and header
//! sniffing that picks one when the user gives no mapping.
//!
//! | preset | layout |
//! |---|---|
//! | `mx-normalizado` | the normalised Mexican columns used to ingest Banamex, Santander, HSBC, BBVA and Banorte exports: `FECHA, DESCRIPCIÓN, CONCEPTO, REFERENCIA, REFERENCIA BANCARIA, BENEFICIARIO, DETALLE, CARGO, ABONO, SALDO, CLAVE, CUENTA` (day-first dates) |
//! | `paypal-activity-en` | PayPal activity download (EN): `Date` D/M/Y, `Gross`, `Currency`, `Transaction ID`, `Name` |
//! | `paypal-statement-en` | PayPal statement (EN, US dates M/D/Y) |
//! | `paypal-statement-es` | PayPal statement (ES): `Fecha` D/M/Y, `Bruto` with decimal comma, `Divisa`, `Id. de transacción` |
//! | `adyen-settlement` | Adyen settlement detail report: `Creation Date`, `Net Debit (NC)`/`Net Credit (NC)`, `Net Currency` |
//! | `odoo-sheet` | the generic sheet layout of Odoo's statement import samples: `Date` M/D/Y, `Amount`, `Label`, `Partner Name` |
//!
//! Every preset but `adyen-settlement` declares the thousands separator its export writes (`,`; `.` for
//! `paypal-statement-es`).
//!
//! No per-bank Mexican layout (BBVA, Banorte, ...) is published in the sources we have, so none is guessed here:
//! those exports are mapped with an explicit [`CsvMapping`] (or normalised to `mx-normalizado` first).

use crate::csv_statement::{norm_header, Column, CsvMapping};

fn c(s: &str) -> Column {
    Column::name(s)
}

fn cols(names: &[&str]) -> Vec<Column> {
    names.iter().map(|n| c(n)).collect()
}

/// Every preset name, for `--help` and errors.
pub const PRESETS: &[&str] = &[
    "mx-normalizado",
    "paypal-activity-en",
    "paypal-statement-en",
    "paypal-statement-es",
    "adyen-settlement",
    "odoo-sheet",
];

/// The mapping of a named preset.
pub fn preset(name: &str) -> Option<CsvMapping> {
    let base = CsvMapping::default();
    Some(match name {
        "mx-normalizado" => CsvMapping {
            date: c("FECHA"),
            date_formats: vec![
                "%d/%m/%Y".into(),
                "%d-%m-%Y".into(),
                "%Y-%m-%d".into(),
                "%d/%m/%y".into(),
            ],
            amount: None,
            debit: Some(c("CARGO")),
            credit: Some(c("ABONO")),
            thousands_separator: Some(','),
            account: Some(c("CUENTA")),
            references: cols(&["REFERENCIA", "CLAVE"]),
            bank_reference: Some(c("REFERENCIA BANCARIA")),
            payer_name: Some(c("BENEFICIARIO")),
            concepto: cols(&["DESCRIPCIÓN", "CONCEPTO", "DETALLE"]),
            status: Some(c("TIPO MOVIMIENTO")),
            ..base
        },
        "paypal-activity-en" => CsvMapping {
            date: c("Date"),
            date_formats: vec!["%d/%m/%Y".into()],
            amount: Some(c("Gross")),
            thousands_separator: Some(','),
            currency: Some(c("Currency")),
            id: Some(c("Transaction ID")),
            payer_name: Some(c("Name")),
            references: cols(&["Invoice Number", "Reference Txn ID", "From Email Address"]),
            concepto: cols(&["Type", "Subject", "Note"]),
            status: Some(c("Status")),
            ..base
        },
        "paypal-statement-en" => CsvMapping {
            date: c("Date"),
            date_formats: vec!["%m/%d/%Y".into()],
            amount: Some(c("Gross")),
            thousands_separator: Some(','),
            currency: Some(c("Currency")),
            id: Some(c("Transaction ID")),
            payer_name: Some(c("Name")),
            payer_account: Some(c("Bank Account")),
            references: cols(&["Invoice ID", "Reference Txn ID", "From Email Address"]),
            concepto: cols(&["Description"]),
            ..base
        },
        "paypal-statement-es" => CsvMapping {
            date: c("Fecha"),
            date_formats: vec!["%d/%m/%Y".into()],
            amount: Some(c("Bruto")),
            decimal_comma: true,
            thousands_separator: Some('.'),
            currency: Some(c("Divisa")),
            id: Some(c("Id. de transacción")),
            payer_name: Some(c("Nombre")),
            payer_account: Some(c("Cuenta bancaria")),
            references: cols(&[
                "Id. de factura",
                "Id. de referencia de trans.",
                "Correo electrónico del remitente",
            ]),
            concepto: cols(&["Descripción"]),
            ..base
        },
        "adyen-settlement" => CsvMapping {
            date: c("Creation Date"),
            date_formats: vec!["%Y-%m-%d %H:%M:%S".into(), "%Y-%m-%d".into()],
            amount: None,
            debit: Some(c("Net Debit (NC)")),
            credit: Some(c("Net Credit (NC)")),
            currency: Some(c("Net Currency")),
            bank_reference: Some(c("Psp Reference")),
            references: cols(&[
                "Merchant Reference",
                "Modification Reference",
                "Batch Number",
            ]),
            concepto: cols(&["Type", "Modification Merchant Reference"]),
            ..base
        },
        "odoo-sheet" => CsvMapping {
            date: c("Date"),
            date_formats: vec!["%m/%d/%Y".into()],
            amount: Some(c("Amount")),
            debit_credit: Some(c("D/C")),
            thousands_separator: Some(','),
            currency: Some(c("Currency")),
            payer_name: Some(c("Partner Name")),
            payer_account: Some(c("Bank Account")),
            concepto: cols(&["Label"]),
            ..base
        },
        _ => return None,
    })
}

/// Picks the preset whose distinctive columns all appear in `header` (raw header cells).
pub fn detect(header: &[String]) -> Option<&'static str> {
    let h: Vec<String> = header.iter().map(|s| norm_header(s)).collect();
    let has = |n: &str| h.contains(&norm_header(n));
    if has("FECHA") && has("CARGO") && has("ABONO") {
        Some("mx-normalizado")
    } else if has("Creation Date") && has("Net Credit (NC)") {
        Some("adyen-settlement")
    } else if has("Fecha") && has("Bruto") && has("Divisa") {
        Some("paypal-statement-es")
    } else if has("Gross") && has("Transaction ID") && has("Status") {
        Some("paypal-activity-en")
    } else if has("Gross") && has("Transaction ID") {
        Some("paypal-statement-en")
    } else if has("Date") && has("Label") && has("Amount") {
        Some("odoo-sheet")
    } else {
        None
    }
}

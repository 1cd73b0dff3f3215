//! Pieces every handler uses to build its answer: JSON acknowledgements, deliveries and blank payment records.

use chrono::NaiveDate;
use cuadra_sdk::{
    Delivery, Money, PaymentKind, PaymentRecord, Record, VerifiedRequest, WebhookOutcome,
};

/// An answer with a JSON body and no delivery.
pub(crate) fn answer(status: u16, body: &str) -> WebhookOutcome {
    WebhookOutcome {
        delivery: None,
        status,
        content_type: Some("application/json".to_string()),
        body: body.as_bytes().to_vec(),
    }
}

/// A 200 answer that stores a delivery of `kind` with the exact request body.
pub(crate) fn store(
    req: &VerifiedRequest,
    kind: &str,
    external_id: String,
    records: Vec<Record>,
    body: &str,
) -> WebhookOutcome {
    let mut out = answer(200, body);
    out.delivery = Some(Delivery {
        kind: kind.to_string(),
        external_id,
        raw: req.body().to_vec(),
        records,
    });
    out
}

/// A payment record with only its identity, date and amount set.
pub(crate) fn payment(
    kind: PaymentKind,
    external_id: String,
    booked_on: NaiveDate,
    amount: Money,
) -> PaymentRecord {
    PaymentRecord {
        kind,
        external_id,
        own_account: None,
        booked_on,
        value_date: None,
        amount,
        bank_reference: None,
        clave_rastreo: None,
        payer_name: None,
        payer_rfc: None,
        payer_account: None,
        referencia_numerica: None,
        concepto: None,
        document_id: None,
        operation_number: None,
        remittance: Vec::new(),
        customer_hint: None,
        status: None,
    }
}

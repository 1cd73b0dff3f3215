//! The normalized records every source produces. The daemon maps them into the ledger; connectors never see it.

use crate::ids::{CfdiUuid, Rfc};
use crate::money::{Currency, Money};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What one source delivered: the exact bytes (kept byte-exact in the raw inbox with their hash) and the records
/// parsed from them. `external_id` is the source's own identity for the delivery (a CFDI UUID, a webhook event id,
/// a statement entry's stable id); the raw inbox deduplicates on (source, external_id, sha256).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The format of `raw`, e.g. `cfdi`, `sat-metadata`, `camt053`, `mt940`, `stripe`.
    pub kind: String,
    pub external_id: String,
    #[serde(with = "serde_bytes_hex")]
    pub raw: Vec<u8>,
    pub records: Vec<Record>,
}

impl Delivery {
    pub fn sha256_hex(&self) -> String {
        sha256_hex(&self.raw)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

mod serde_bytes_hex {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// One normalized fact.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Customer(CustomerRecord),
    Invoice(InvoiceRecord),
    Credit(CreditRecord),
    Payment(PaymentRecord),
    /// A SAT metadata row or ERP status: the document is current or cancelled.
    CfdiStatus(CfdiStatusRecord),
    /// A CFDI seen but not a receivable (tipo T or N, received CFDI, retenciones): kept for the audit only.
    Seen(SeenRecord),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CustomerRecord {
    pub rfc: Option<Rfc>,
    pub name: String,
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub whatsapp: Option<String>,
    pub credit_days: Option<u32>,
    pub credit_limit: Option<Decimal>,
    pub currency: Option<Currency>,
    pub payment_reference: Option<String>,
    /// Accounts the customer pays from (CLABEs or other account numbers, as the source gives them).
    pub accounts: Vec<String>,
    pub language: Option<String>,
    pub erp_id: Option<String>,
    /// The corporate group the customer belongs to (holding and sister companies pay each other's invoices).
    /// Left out of the record's JSON when absent, so the content hash of a master without groups is unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// How the invoice is to be paid (CFDI `MetodoPago`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PaymentMethod {
    /// Paid in one exhibition when issued.
    Pue,
    /// Paid later or in parts; a REP is due per payment.
    Ppd,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InvoiceRecord {
    /// The CFDI UUID; `None` for an ERP invoice not yet stamped (then merged by serie/folio).
    pub uuid: Option<CfdiUuid>,
    pub serie: Option<String>,
    pub folio: Option<String>,
    pub issuer_rfc: Option<Rfc>,
    pub customer_rfc: Option<Rfc>,
    pub customer_name: Option<String>,
    pub issued_at: DateTime<Utc>,
    /// From the ERP where it gives one; else the daemon computes issue date + customer credit days.
    pub due_at: Option<NaiveDate>,
    pub total: Money,
    pub subtotal: Option<Decimal>,
    /// CFDI `TipoCambio` (MXN per unit of `total`'s currency).
    pub exchange_rate: Option<Decimal>,
    pub payment_method: Option<PaymentMethod>,
    pub payment_form: Option<String>,
    /// CFDI this one replaces (TipoRelacion 04, sustitución).
    pub replaces: Vec<CfdiUuid>,
    /// The ERP's own id for the invoice.
    pub erp_id: Option<String>,
    /// The ERP's residual, when the ERP is the source (for agreement checks, never applied as money).
    pub erp_residual: Option<Decimal>,
    /// CFDI version (`3.3`, `4.0`) or `erp`.
    pub version: String,
}

/// A credit note (tipo E) or another credit against invoices.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreditRecord {
    pub uuid: CfdiUuid,
    pub serie: Option<String>,
    pub folio: Option<String>,
    pub issuer_rfc: Option<Rfc>,
    pub customer_rfc: Option<Rfc>,
    pub issued_at: DateTime<Utc>,
    pub total: Money,
    pub exchange_rate: Option<Decimal>,
    /// c_TipoRelacion (`01` nota de crédito, `03` devolución, `07` anticipo, ...).
    pub relation_type: Option<String>,
    /// The invoices it relates to, in document order.
    pub applies_to: Vec<CfdiUuid>,
    pub version: String,
}

/// Where a payment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A bank statement credit (camt, MT940, OFX, CSV).
    Bank,
    /// A SPEI transfer notified by STP or read from a CEP.
    Spei,
    /// A CFDI tipo P (REP): the issuer's own statement of a payment and what it settled.
    Rep,
    /// A payment provider (Stripe, Conekta, Openpay, Mercado Pago).
    Provider,
    /// Recorded by the ERP.
    Erp,
}

impl PaymentKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PaymentKind::Bank => "bank",
            PaymentKind::Spei => "spei",
            PaymentKind::Rep => "rep",
            PaymentKind::Provider => "provider",
            PaymentKind::Erp => "erp",
        }
    }
}

/// A movement of money. Credits (money in) are positive; debits and refunds negative. Debits are kept but are not
/// receivables.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentRecord {
    pub kind: PaymentKind,
    /// Stable identity of the transaction within its kind (see each parser's docs): the same transaction seen in
    /// two overlapping statements or two webhook deliveries yields the same id.
    pub external_id: String,
    /// The company's receiving account (CLABE, account number or IBAN) or the configured account name.
    pub own_account: Option<String>,
    pub booked_on: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Money,
    pub bank_reference: Option<String>,
    pub clave_rastreo: Option<String>,
    pub payer_name: Option<String>,
    pub payer_rfc: Option<String>,
    pub payer_account: Option<String>,
    pub referencia_numerica: Option<String>,
    pub concepto: Option<String>,
    /// For REPs: the REP's UUID; for providers: the charge/payment id.
    pub document_id: Option<String>,
    /// Operation number (REP `NumOperacion`, provider authorization), for linking the same money seen twice.
    pub operation_number: Option<String>,
    /// What the payer or the issuer said this payment settles.
    pub remittance: Vec<RemittanceLine>,
    /// Customer ids that a payment link put in provider metadata.
    pub customer_hint: Option<String>,
    /// Provider-specific status (`succeeded`, `refunded`, `reversed`...), for the audit.
    pub status: Option<String>,
}

impl PaymentRecord {
    pub fn is_credit(&self) -> bool {
        self.amount.amount() > Decimal::ZERO
    }
}

/// Which invoice a remittance line names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum InvoiceRef {
    Uuid(CfdiUuid),
    SerieFolio {
        serie: Option<String>,
        folio: String,
    },
    ErpId(String),
}

/// One line of "this payment settles that invoice" (a REP `DoctoRelacionado`, provider metadata).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemittanceLine {
    pub invoice: InvoiceRef,
    /// Amount paid, in the invoice's currency (`ImpPagado` in `MonedaDR`). `None` when the source only names the
    /// invoice.
    pub amount: Option<Money>,
    /// `EquivalenciaDR` (Pagos 2.0) / `TipoCambioDR` (1.0): units of the document currency per unit of payment
    /// currency, as written.
    pub equivalence: Option<Decimal>,
    pub installment: Option<u32>,
    pub balance_before: Option<Decimal>,
    pub balance_after: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CfdiState {
    Vigente,
    Cancelado,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CfdiStatusRecord {
    pub uuid: CfdiUuid,
    pub state: CfdiState,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub issuer_rfc: Option<Rfc>,
    pub receiver_rfc: Option<Rfc>,
    /// `I`, `E`, `P`, `T`, `N` as the metadata says.
    pub tipo: Option<String>,
    pub total: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeenRecord {
    pub uuid: Option<CfdiUuid>,
    pub tipo: String,
    pub reason: String,
}

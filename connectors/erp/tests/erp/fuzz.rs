//! Stand-in for the fuzz targets (no nightly here): the same entry points over random and mutated inputs.

use proptest::prelude::*;

const SEEDS: &[&str] = &[
    r#"{"customers":[{"erp_id":1,"name":"A","rfc":"AAA010101AAA","credit_limit":"1.00"}],"invoices":[{"erp_id":"I","issued_at":"2024-05-01","total":1.5,"currency":"MXN","due_date":"2024-05-02"}],"next_cursor":"x"}"#,
    r#"{"type":"invoice.updated","data":{"erp_id":"I","issued_at":"2024-05-01","total":"1","currency":"MXN","uuid":"6F1A2B3C-4D5E-4F60-8A7B-9C0D1E2F3A4B"}}"#,
    r#"[{"id":1,"name":"INV/1","move_type":"out_invoice","partner_id":[3,"A"],"invoice_date":"2024-05-01","invoice_date_due":false,"amount_total":1e-05,"amount_residual":0.0,"currency_id":[33,"MXN"],"write_date":"2024-06-01 10:00:00","l10n_mx_edi_cfdi_uuid":false}]"#,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        cuadra_erp::fuzz::http_inputs(&data);
        cuadra_erp::fuzz::odoo_rows(&data);
    }

    #[test]
    fn mutated_seeds_never_panic(seed in 0..SEEDS.len(), pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut data = SEEDS[seed].as_bytes().to_vec();
        let i = pos.index(data.len());
        data[i] = byte;
        let n = cut.index(data.len() + 1);
        data.truncate(n.max(i));
        cuadra_erp::fuzz::http_inputs(&data);
        cuadra_erp::fuzz::odoo_rows(&data);
    }
}

#[test]
fn seeds_map() {
    for s in SEEDS {
        cuadra_erp::fuzz::http_inputs(s.as_bytes());
        cuadra_erp::fuzz::odoo_rows(s.as_bytes());
    }
}

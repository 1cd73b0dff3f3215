//! Entry points for fuzz targets (`fuzz/fuzz_targets/erp_*.rs`) and their stand-in property tests: each takes
//! arbitrary bytes and must return without panicking.

use serde_json::value::RawValue;

/// An HTTP pull page and an inbound webhook event body.
pub fn http_inputs(data: &[u8]) {
    let _ = crate::http::shape::map_page(data);
    let _ = crate::http::map_event_for_fuzz(data);
}

/// Odoo `search_read` rows (a JSON array of objects) through both mappers.
pub fn odoo_rows(data: &[u8]) {
    let Ok(rows) = serde_json::from_slice::<Vec<Box<RawValue>>>(data) else {
        return;
    };
    for r in &rows {
        let _ = crate::odoo::map::partner(r);
        let _ = crate::odoo::map::account_move(r, &|_| None);
    }
}
